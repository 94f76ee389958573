// node check-rows.mjs SCHEMA.json ROWS.ndjson: checks every row the way
// BigQuery's insertAll would, with the BigQuery stand-in's validator, and
// prints {"rows": N, "errors": [[line, message], ...]}.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const { parseSchema, validateRow } = await import(join(root, 't/bqstub/lib/schema.mjs'));

const [schemaFile, rowsFile] = process.argv.slice(2);
const fields = parseSchema(readFileSync(schemaFile, 'utf8'), schemaFile);
const errors = [];
let rows = 0;

readFileSync(rowsFile, 'utf8').split('\n').forEach((line, i) => {
    if (line === '') {
        return;
    }
    rows++;
    let row;
    try {
        row = JSON.parse(line);
    } catch (e) {
        errors.push([i + 1, `not JSON: ${e.message}`]);
        return;
    }
    for (const e of validateRow(fields, row).errors) {
        errors.push([i + 1, `${e.location}: ${e.message}`]);
    }
});

console.log(JSON.stringify({ rows, errors: errors.slice(0, 20) }));
