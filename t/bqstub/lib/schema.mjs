// Table schemas and row validation for the BigQuery stand-in.
//
// A schema file is what `bq show --schema` prints: a JSON array of fields
// ({name, type, mode, fields?, description?}); {"fields": [...]} and
// {"schema": {"fields": [...]}} are accepted too. The table is named after
// the file (events.json -> table "events").
//
// Rows are checked the way tabledata.insertAll checks them: unknown fields
// (unless ignoreUnknownValues), values that do not convert to the column
// type, missing REQUIRED fields and NULL in REQUIRED fields. Field names
// match case-insensitively, as BigQuery column names do.
//
// One deliberate deviation: BigQuery quietly turns a JSON number or boolean
// into a STRING column's text; the stand-in rejects it, because every STRING
// our edge writes should already be text, and a number there is a bug.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const TYPE_ALIASES = {
    STRING: 'STRING',
    BYTES: 'BYTES',
    INTEGER: 'INTEGER',
    INT64: 'INTEGER',
    FLOAT: 'FLOAT',
    FLOAT64: 'FLOAT',
    NUMERIC: 'NUMERIC',
    DECIMAL: 'NUMERIC',
    BIGNUMERIC: 'BIGNUMERIC',
    BIGDECIMAL: 'BIGNUMERIC',
    BOOLEAN: 'BOOLEAN',
    BOOL: 'BOOLEAN',
    TIMESTAMP: 'TIMESTAMP',
    DATE: 'DATE',
    TIME: 'TIME',
    DATETIME: 'DATETIME',
    GEOGRAPHY: 'GEOGRAPHY',
    JSON: 'JSON',
    RECORD: 'RECORD',
    STRUCT: 'RECORD',
};

const MODES = new Set(['NULLABLE', 'REQUIRED', 'REPEATED']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;
const TABLE_RE = /^[A-Za-z0-9_]{1,1024}$/;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Seconds since the epoch of 0001-01-01 and 9999-12-31T23:59:59.999999.
const TS_MIN = -62135596800;
const TS_MAX = 253402300800;

export class SchemaError extends Error {}

function normalizeFields(fields, where) {
    const out = [];
    const seen = new Set();

    if (!Array.isArray(fields)) {
        throw new SchemaError(`${where}: fields must be an array`);
    }
    if (fields.length === 0) {
        throw new SchemaError(`${where}: a table or RECORD needs a field`);
    }

    for (const [i, f] of fields.entries()) {
        const at = `${where}[${i}]`;

        if (f === null || typeof f !== 'object' || Array.isArray(f)) {
            throw new SchemaError(`${at}: a field must be an object`);
        }
        if (typeof f.name !== 'string' || !NAME_RE.test(f.name)) {
            throw new SchemaError(`${at}: bad field name ${JSON.stringify(f.name)}`);
        }
        const lname = f.name.toLowerCase();
        if (seen.has(lname)) {
            throw new SchemaError(`${at}: duplicate field name ${f.name}`);
        }
        seen.add(lname);

        const type = TYPE_ALIASES[String(f.type ?? '').toUpperCase()];
        if (!type) {
            throw new SchemaError(`${at} (${f.name}): unknown type ${JSON.stringify(f.type)}`);
        }
        const mode = String(f.mode ?? 'NULLABLE').toUpperCase();
        if (!MODES.has(mode)) {
            throw new SchemaError(`${at} (${f.name}): unknown mode ${JSON.stringify(f.mode)}`);
        }

        const field = { name: f.name, type, mode };
        if (type === 'RECORD') {
            field.fields = normalizeFields(f.fields, `${at}.fields`);
        } else if (f.fields !== undefined) {
            throw new SchemaError(`${at} (${f.name}): only a RECORD has fields`);
        }
        out.push(field);
    }
    return out;
}

export function parseSchema(text, where) {
    let doc;

    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new SchemaError(`${where}: not JSON: ${e.message}`);
    }
    if (doc && !Array.isArray(doc) && typeof doc === 'object') {
        doc = doc.schema?.fields ?? doc.fields;
    }
    return normalizeFields(doc, where);
}

// Reads every *.json in each directory; returns Map(table -> fields).
export function loadSchemaDirs(dirs) {
    const tables = new Map();

    for (const dir of dirs) {
        let names;
        try {
            if (!statSync(dir).isDirectory()) {
                throw new SchemaError(`${dir}: not a directory`);
            }
            names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
        } catch (e) {
            if (e instanceof SchemaError) {
                throw e;
            }
            throw new SchemaError(`${dir}: ${e.message}`);
        }
        for (const name of names) {
            const table = basename(name, '.json');
            const file = join(dir, name);
            if (!TABLE_RE.test(table)) {
                throw new SchemaError(`${file}: "${table}" is not a valid table name`);
            }
            if (tables.has(table)) {
                throw new SchemaError(`${file}: table ${table} is defined twice`);
            }
            tables.set(table, parseSchema(readFileSync(file, 'utf8'), file));
        }
    }
    if (tables.size === 0) {
        throw new SchemaError(`no *.json schema in ${dirs.join(', ')}`);
    }
    return tables;
}

function show(v) {
    let s = typeof v === 'string' ? v : JSON.stringify(v);

    if (s === undefined) {
        s = String(v);
    }
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function daysIn(year, month) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

function validDate(y, m, d) {
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1
        && d <= daysIn(y, m);
}

function validTime(h, mi, s) {
    return h <= 23 && mi <= 59 && s <= 59;
}

const DATE_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const TIME_RE = /^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const DATETIME_RE = new RegExp(
    '^(\\d{4})-(\\d{1,2})-(\\d{1,2})'
    + '(?:[Tt ](\\d{1,2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d{1,6}))?)?)?$');
const TIMESTAMP_RE = new RegExp(
    '^(\\d{4})-(\\d{1,2})-(\\d{1,2})'
    + '(?:[Tt ](\\d{1,2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d{1,6}))?)?)?'
    + '\\s*(Z|z|UTC|[+-]\\d{1,2}(?::?\\d{2})?)?$');

function checkDateParts(m) {
    const [y, mo, d] = [+m[1], +m[2], +m[3]];
    const [h, mi, s] = [+(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)];

    return validDate(y, mo, d) && validTime(h, mi, s);
}

function checkOffset(tz) {
    let m;

    if (tz === undefined || /^(z|utc)$/i.test(tz)) {
        return true;
    }
    m = /^[+-](\d{1,2}):?(\d{2})?$/.exec(tz);
    return m !== null && +m[1] <= 14 && +(m[2] ?? 0) <= 59;
}

// Each converter returns null when the value fits, or a message.
const CONVERT = {
    STRING(v) {
        return typeof v === 'string' ? null
            : `Cannot convert value to string (not a JSON string): ${show(v)}`;
    },

    BYTES(v) {
        if (typeof v === 'string'
            && /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
                .test(v))
        {
            return null;
        }
        return `Could not base64-decode bytes value: ${show(v)}`;
    },

    INTEGER(v) {
        let n;

        if (typeof v === 'number') {
            if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) {
                return null;
            }
        } else if (typeof v === 'string' && /^[+-]?\d{1,20}$/.test(v)) {
            n = BigInt(v);
            if (n >= INT64_MIN && n <= INT64_MAX) {
                return null;
            }
        }
        return `Cannot convert value to integer (bad value): ${show(v)}`;
    },

    FLOAT(v) {
        if (typeof v === 'number' && Number.isFinite(v)) {
            return null;
        }
        if (typeof v === 'string'
            && (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(v)
                || /^(?:[+-]?inf(?:inity)?|nan)$/i.test(v)))
        {
            return null;
        }
        return `Cannot convert value to floating point (bad value): ${show(v)}`;
    },

    NUMERIC(v) {
        const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
        let m;

        if (typeof s === 'string') {
            m = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?$/.exec(s);
            if (m && (m[1] || m[2]) && m[1].replace(/^0+/, '').length <= 29
                && (m[2] ?? '').length <= 9)
            {
                return null;
            }
        }
        return `Invalid NUMERIC value: ${show(v)}`;
    },

    BIGNUMERIC(v) {
        const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;

        if (typeof s === 'string'
            && /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s))
        {
            return null;
        }
        return `Invalid BIGNUMERIC value: ${show(v)}`;
    },

    BOOLEAN(v) {
        if (typeof v === 'boolean'
            || (typeof v === 'string' && /^(?:true|false)$/i.test(v)))
        {
            return null;
        }
        return `Cannot convert value to boolean: ${show(v)}`;
    },

    TIMESTAMP(v) {
        let m;

        if (typeof v === 'number') {
            if (Number.isFinite(v) && v >= TS_MIN && v < TS_MAX) {
                return null;
            }
            return `Timestamp field value is out of range: ${show(v)}`;
        }
        if (typeof v === 'string') {
            m = TIMESTAMP_RE.exec(v.trim());
            if (m && checkDateParts(m) && checkOffset(m[8])) {
                return null;
            }
        }
        return `Couldn't convert value to timestamp: ${show(v)}`
            + ' (want an ISO-8601 string or seconds since the epoch)';
    },

    DATE(v) {
        const m = typeof v === 'string' ? DATE_RE.exec(v) : null;

        if (m && validDate(+m[1], +m[2], +m[3])) {
            return null;
        }
        return `Invalid date: ${show(v)} (want YYYY-MM-DD)`;
    },

    TIME(v) {
        const m = typeof v === 'string' ? TIME_RE.exec(v) : null;

        if (m && validTime(+m[1], +m[2], +m[3])) {
            return null;
        }
        return `Invalid time: ${show(v)} (want HH:MM:SS[.ffffff])`;
    },

    DATETIME(v) {
        const m = typeof v === 'string' ? DATETIME_RE.exec(v) : null;

        if (m && checkDateParts(m)) {
            return null;
        }
        return `Invalid datetime: ${show(v)}`;
    },

    GEOGRAPHY(v) {
        return typeof v === 'string' && v.length > 0 ? null
            : `Invalid geography value: ${show(v)}`;
    },

    JSON(v) {
        if (typeof v !== 'string') {
            return null;
        }
        try {
            JSON.parse(v);
            return null;
        } catch (e) {
            return `Invalid JSON text for JSON field: ${show(v)}`;
        }
    },
};

function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkScalar(field, v, path, ctx) {
    if (field.type === 'RECORD') {
        if (!isObject(v)) {
            ctx.errors.push({
                location: path,
                message: `This field: ${path} is not a record.`,
            });
            return undefined;
        }
        return checkObject(field.fields, v, path + '.', ctx);
    }

    const msg = CONVERT[field.type](v);
    if (msg !== null) {
        ctx.errors.push({ location: path, message: `${msg} (field: ${path})` });
    }
    return v;
}

function checkValue(field, v, path, ctx) {
    const errors = ctx.errors;

    if (field.mode === 'REPEATED') {
        if (v === null) {
            return [];
        }
        if (!Array.isArray(v)) {
            errors.push({
                location: path,
                message: `Expected an array for repeated field: ${path}.`,
            });
            return undefined;
        }
        return v.map((item, i) => {
            const at = `${path}[${i}]`;
            if (item === null) {
                errors.push({
                    location: at,
                    message: `An array may not contain NULL. Field: ${at}`,
                });
                return null;
            }
            return checkScalar(field, item, at, ctx);
        });
    }

    if (v === null) {
        if (field.mode === 'REQUIRED') {
            errors.push({
                location: path,
                message: `Only optional fields can be set to NULL. Field: ${path}; Value: NULL`,
            });
        }
        return null;
    }
    if (Array.isArray(v) && field.type !== 'JSON') {
        errors.push({
            location: path,
            message: `Array specified for non-repeated field: ${path}.`,
        });
        return undefined;
    }
    return checkScalar(field, v, path, ctx);
}

// What checkObject needs of a list of fields, made once per list, not per
// row: the fields by lower-case name, which are REQUIRED, and per field the
// mark of the last object that set it (to find a field set twice, under two
// spellings, without a Map per row).
const INFO = new WeakMap();
let markSeq = 0;

function fieldsInfo(fields) {
    let info = INFO.get(fields);

    if (info === undefined) {
        info = {
            byName: new Map(fields.map((f, i) => [f.name.toLowerCase(), i])),
            required: fields.flatMap((f, i) => (f.mode === 'REQUIRED' ? [i] : [])),
            marks: new Float64Array(fields.length),
            keys: new Array(fields.length),
        };
        INFO.set(fields, info);
    }
    return info;
}

function checkObject(fields, obj, prefix, ctx) {
    const errors = ctx.errors;
    const info = fieldsInfo(fields);
    const mark = ++markSeq;
    const out = {};

    for (const key of Object.keys(obj)) {
        const i = info.byName.get(key) ?? info.byName.get(key.toLowerCase());
        let field;

        if (i === undefined) {
            if (!ctx.ignoreUnknownValues) {
                errors.push({ location: prefix + key,
                              message: `no such field: ${prefix + key}.` });
            }
            continue;
        }
        field = fields[i];
        if (info.marks[i] === mark) {
            errors.push({
                location: prefix + key,
                message: `Field ${prefix + key} appears more than once`
                         + ` (as ${info.keys[i]}).`,
            });
            continue;
        }
        info.marks[i] = mark;
        info.keys[i] = key;
        out[field.name] = checkValue(field, obj[key], prefix + field.name, ctx);
    }

    for (const i of info.required) {
        if (info.marks[i] !== mark) {
            errors.push({
                location: prefix + fields[i].name,
                message: `Missing required field: ${prefix + fields[i].name}.`,
            });
        }
    }
    return out;
}

// Returns {errors: [{location, message}], value}; value is the row with field
// names as the schema spells them and unknown fields dropped.
export function validateRow(fields, json, opts = {}) {
    const ctx = {
        errors: [],
        ignoreUnknownValues: Boolean(opts.ignoreUnknownValues),
    };
    let value;

    if (!isObject(json)) {
        return {
            errors: [{ location: '', message: 'Row json must be a JSON object.' }],
            value: undefined,
        };
    }
    value = checkObject(fields, json, '', ctx);
    return { errors: ctx.errors, value };
}
