// A FHIR client's view of 'rrec fhir serve': npm fhir-kit-client reads every route, as a
// clinic's system would, and prints what it got as one JSON line for the Go test to check.
//
//   node read.mjs read BASE RECORD PATIENT_IDENTITY
//   node read.mjs refused BASE RECORD
//   node read.mjs pages BASE COUNT [TYPE]      every page of a DocumentReference search
import { Client } from 'fhir-kit-client';

const [phase, baseUrl, record, patient] = process.argv.slice(2);
const client = new Client({ baseUrl });

async function read() {
  const cs = await client.capabilityStatement();
  const docs = await client.search({
    resourceType: 'DocumentReference',
    searchParams: { 'patient:identifier': `urn:rrec:identity|${patient}` },
  });
  const doc = await client.read({ resourceType: 'DocumentReference', id: record });
  const binary = await client.read({ resourceType: 'Binary', id: record });
  const consents = await client.search({ resourceType: 'Consent' });
  const events = await client.search({
    resourceType: 'AuditEvent',
    searchParams: { entity: `DocumentReference/${record}` },
  });
  return {
    capability: `${cs.resourceType} ${cs.fhirVersion}`,
    documents: docs.total,
    fullUrls: docs.entry.map((e) => e.fullUrl),
    document: doc.id,
    attachment: doc.content[0].attachment.url,
    contentType: binary.contentType,
    content: Buffer.from(binary.data, 'base64').toString('utf8'),
    consents: consents.entry.map((e) => e.resource.status),
    events: events.total,
  };
}

async function refused() {
  try {
    await client.read({ resourceType: 'Binary', id: record });
    return { status: 200 };
  } catch (e) {
    if (!e.response) throw e;
    return { status: e.response.status, outcome: e.response.data };
  }
}

// pages follows the next links of a DocumentReference search, COUNT entries a page, and
// then the previous links back, as a client paging through a long answer does.
async function pages() {
  const [count, type] = process.argv.slice(4);
  const searchParams = { _count: count };
  if (type) searchParams.type = type;
  let bundle = await client.search({ resourceType: 'DocumentReference', searchParams });
  const total = bundle.total;
  const ids = [];
  const sizes = [];
  for (;;) {
    const entries = bundle.entry || [];
    sizes.push(entries.length);
    ids.push(...entries.map((e) => e.resource.id));
    const next = await client.nextPage({ bundle });
    if (!next) break;
    bundle = next;
  }
  let back = 0;
  for (let prev = await client.prevPage({ bundle }); prev; prev = await client.prevPage({ bundle: prev })) back++;
  return { total, ids, sizes, back };
}

const phases = { read, refused, pages };
const out = await phases[phase]();
console.log(JSON.stringify(out));
