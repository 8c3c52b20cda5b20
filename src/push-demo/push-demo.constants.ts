/** Longest client_id field accepted before the push module judges its shape (a real one is 48 characters). */
export const MAX_CLIENT_ID_FIELD = 128;
