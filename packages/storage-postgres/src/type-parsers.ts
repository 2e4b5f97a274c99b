import pg from 'pg';
import { StorageError } from '@highwater/core';

const INT8_OID = 20;

/**
 * int8 (BIGINT, and `count(*)`) as a JS number. pg returns int8 as a string by default
 * because it may exceed 2^53; Highwater integers are validated safe integers, so anything
 * larger cannot have been written by Highwater and is refused rather than rounded.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new StorageError(`PostgreSQL returned the integer ${text}, outside JavaScript's safe range; it was not written by Highwater`);
  }
  return n;
}

/**
 * Type parsers passed with every query (pg's `types` query option) rather than installed
 * with `pg.types.setTypeParser`: that would change every other pg user in the process,
 * and a pool handed to us by the application must keep its own behaviour.
 * Everything but int8 uses pg's defaults (json is parsed with JSON.parse, booleans and
 * float8 become booleans and numbers).
 */
export const HIGHWATER_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};
