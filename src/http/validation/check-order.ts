import { EXACTLY_ONE_OF } from './exactly-one-of.validator';
import { IS_PRESENT } from './is-present.validator';
import { IS_WELL_FORMED_UNICODE } from './is-well-formed-unicode.validator';
import { MAX_CHARS } from './max-chars.validator';

/**
 * Which failed check of one field is reported, first to last. A missing field also fails "must be a string", an
 * over-long ill-formed one fails two checks: the answer names the most basic problem, as the hand-written checks
 * this replaced did. Constraints not listed here come after these, in class-validator's order.
 */
export const CHECK_ORDER: readonly string[] = [EXACTLY_ONE_OF, IS_PRESENT, 'isString', MAX_CHARS, IS_WELL_FORMED_UNICODE];
