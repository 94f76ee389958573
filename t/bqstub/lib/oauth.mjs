// Service-account keys and the OAuth2 JWT-bearer grant (RFC 7523) as Google's
// token endpoint checks it: an RS256-signed JWT whose header names the key
// (kid = private_key_id) and whose claims name the account (iss), the scopes,
// the token endpoint (aud) and a lifetime of at most an hour (iat, exp).

import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

// Any of these lets the token call tabledata.insertAll.
export const BIGQUERY_SCOPES = new Set([
    'https://www.googleapis.com/auth/bigquery',
    'https://www.googleapis.com/auth/bigquery.insertdata',
    'https://www.googleapis.com/auth/cloud-platform',
]);

const KEY_FIELDS = ['type', 'project_id', 'private_key_id', 'private_key',
                    'client_email', 'client_id', 'token_uri'];

const TIMEFRAME = 'Invalid JWT: Token must be a short-lived token (60 minutes)'
    + ' and in a reasonable timeframe. Check your iat and exp values in the'
    + ' JWT claim.';

export class KeyError extends Error {}

export function loadKey(path) {
    let text, key, priv;

    try {
        text = readFileSync(path, 'utf8');
    } catch (e) {
        throw new KeyError(`cannot read key ${path}: ${e.message}`);
    }
    try {
        key = JSON.parse(text);
    } catch (e) {
        throw new KeyError(`key ${path} is not JSON: ${e.message}`);
    }
    if (key === null || typeof key !== 'object' || Array.isArray(key)) {
        throw new KeyError(`key ${path} is not a JSON object`);
    }
    for (const f of KEY_FIELDS) {
        if (typeof key[f] !== 'string' || key[f] === '') {
            throw new KeyError(`key ${path} has no "${f}"`);
        }
    }
    if (key.type !== 'service_account') {
        throw new KeyError(`key ${path}: type is "${key.type}", not service_account`);
    }
    try {
        priv = createPrivateKey(key.private_key);
    } catch (e) {
        throw new KeyError(`key ${path}: private_key is not a PEM key: ${e.message}`);
    }
    if (priv.asymmetricKeyType !== 'rsa') {
        throw new KeyError(`key ${path}: private_key is ${priv.asymmetricKeyType}, not RSA`);
    }
    return {
        projectId: key.project_id,
        privateKeyId: key.private_key_id,
        clientEmail: key.client_email,
        tokenUri: key.token_uri,
        publicKey: createPublicKey(priv),
        raw: key,
    };
}

function b64urlJson(part, what) {
    let v;

    if (!/^[A-Za-z0-9_-]+$/.test(part)) {
        throw new Error(`${what} is not base64url`);
    }
    try {
        v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    } catch (e) {
        throw new Error(`${what} is not JSON`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new Error(`${what} is not a JSON object`);
    }
    return v;
}

function grantError(description, error = 'invalid_grant') {
    return { error, error_description: description };
}

// Checks a JWT-bearer assertion. ctx: {key, audiences (Set of accepted aud),
// now (seconds), skew (seconds of clock difference tolerated)}.
// Returns {claims, scopes} or {error, error_description}.
export function verifyAssertion(assertion, ctx) {
    const parts = assertion.split('.');
    let header, claims, sig, scopes, ok;

    if (parts.length !== 3) {
        return grantError('Invalid JWT: the assertion must have three'
                          + ' dot-separated parts');
    }
    try {
        header = b64urlJson(parts[0], 'JWT header');
        claims = b64urlJson(parts[1], 'JWT claim set');
    } catch (e) {
        return grantError(`Invalid JWT: ${e.message}`);
    }
    if (!/^[A-Za-z0-9_-]+$/.test(parts[2])) {
        return grantError('Invalid JWT Signature.');
    }

    if (header.alg !== 'RS256') {
        return grantError(`Invalid JWT: header alg is ${JSON.stringify(header.alg)};`
                          + ' only RS256 is accepted');
    }
    if (header.typ !== 'JWT') {
        return grantError(`Invalid JWT: header typ is ${JSON.stringify(header.typ)},`
                          + ' not "JWT"');
    }
    if (header.kid !== ctx.key.privateKeyId) {
        return grantError(`Invalid JWT Signature. (header kid ${JSON.stringify(header.kid)}`
                          + ' is not this account\'s private_key_id)');
    }

    sig = Buffer.from(parts[2], 'base64url');
    try {
        ok = verify('sha256', Buffer.from(parts[0] + '.' + parts[1]),
                    ctx.key.publicKey, sig);
    } catch (e) {
        ok = false;
    }
    if (!ok) {
        return grantError('Invalid JWT Signature.');
    }

    if (claims.iss !== ctx.key.clientEmail) {
        return grantError(`Invalid email or User ID (iss ${JSON.stringify(claims.iss)}`
                          + ' is not the service account\'s client_email)');
    }
    if (typeof claims.aud !== 'string' || !ctx.audiences.has(claims.aud)) {
        return grantError(`Invalid JWT: Failed audience check. The right audience is`
                          + ` ${ctx.tokenUrl} (got ${JSON.stringify(claims.aud)})`);
    }
    if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp)) {
        return grantError(`${TIMEFRAME} (iat and exp must be integer seconds)`);
    }
    if (Math.abs(claims.iat - ctx.now) > ctx.skew) {
        return grantError(`${TIMEFRAME} (iat is ${claims.iat - ctx.now} s from now)`);
    }
    if (claims.exp <= ctx.now) {
        return grantError(`${TIMEFRAME} (the assertion expired`
                          + ` ${ctx.now - claims.exp} s ago)`);
    }
    if (claims.exp <= claims.iat || claims.exp - claims.iat > 3600) {
        return grantError(`${TIMEFRAME} (exp - iat is ${claims.exp - claims.iat} s;`
                          + ' it must be 1..3600)');
    }

    if (typeof claims.scope !== 'string' || claims.scope.trim() === '') {
        return grantError('Invalid OAuth scope or ID token audience provided.'
                          + ' (the claim set has no scope)', 'invalid_scope');
    }
    scopes = claims.scope.trim().split(/\s+/);
    if (!scopes.some((s) => BIGQUERY_SCOPES.has(s))) {
        return grantError('Invalid OAuth scope or ID token audience provided.'
                          + ' (no scope grants BigQuery: want'
                          + ' https://www.googleapis.com/auth/bigquery)',
                          'invalid_scope');
    }
    if (claims.sub !== undefined && claims.sub !== claims.iss) {
        return grantError('Client is unauthorized to retrieve access tokens'
                          + ' using this method (domain-wide delegation: sub'
                          + ` ${JSON.stringify(claims.sub)})`,
                          'unauthorized_client');
    }
    return { claims, scopes };
}
