"""Running the stack on one machine: emulators, the provider sandbox, the function host."""
