"""A user's data as a whole: the export of everything stored about them and the erasure that
disconnects every service and deletes every document naming them."""
