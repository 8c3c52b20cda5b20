// Quiet Nest's info logs in tests; errors and warnings still show.
process.env.NODE_ENV = 'test';
