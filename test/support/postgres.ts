// One definition of the test server and of the "fail, never skip" check: the adapter's own.
export { PG_URL, requirePostgres } from '../../packages/storage-postgres/test/pg-test-helper.js';
