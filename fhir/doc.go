// Package fhir speaks HL7 FHIR R4 for the network: purposes of use as HL7 v3 PurposeOfUse
// codes, each grant as a Consent, a record's audit log as AuditEvents in the shape of IHE's
// Basic Audit Log Patterns (BALP), Bundles of them, the import of a Consent into the
// options of a grant, and typed records: a FHIR resource or a described file, validated as
// R4 and summarised (type, main code, clinical date, patient) in the record's sealed
// metadata, where queries find it.
//
// The network enforces grants by cryptography and a BFT ledger, not by a FHIR server's
// policy engine, so it can express less than a Consent can say: one recipient, one record,
// a time window, reading only. Export says exactly what the ledger holds; import refuses,
// by name, every provision the network could not enforce, rather than grant something
// broader or different from what the Consent says. SPEC.md maps every field both ways.
//
// The package reads and writes JSON only and makes no network calls: the caller reads the
// ledger (package client) and hands over what it read. It validates with Google's FHIR R4
// parser, a large dependency (SPEC.md §11.1).
package fhir
