/** Name of the signed, HttpOnly cookie that carries the demo login. */
export const LOGIN_COOKIE = 'push_demo_uid';
/** Longest uid the demo login accepts (the push module's own default limit). */
export const MAX_UID_LENGTH = 256;
