"""Firestore repositories. Each takes the shared client; the collections and their layout are
documented in the README ("Data in Firestore")."""
