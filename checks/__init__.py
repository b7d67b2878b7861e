"""Pure computations: data in, frozen results out. No I/O but what is handed in."""
