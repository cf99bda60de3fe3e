package fhir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// eventShape is what one kind of audit entry is in FHIR: a RESTful interaction on the
// record, on the grant's Consent or on a node's key fragment, in the shape of BALP's
// Create, Read, Update and Delete patterns (BALP: IHE Basic Audit Log Patterns). The
// events claim no BALP profile in meta: nothing here validates against the profiles, and
// the ledger does not know what BALP's client agent needs (the client's network address).
type eventShape struct {
	typ       coding
	subtype   coding
	action    string // C, R, U, D (audit-event-action)
	on        string // what the interaction acts on: "record", "consent", "fragment"
	lifecycle coding // of the thing acted on
	what      string // words for the narrative
}

var restType = coding{System: sysAuditEventType, Code: "rest", Display: "RESTful Operation"}

func restful(code string) coding { return coding{System: sysRestful, Code: code, Display: code} }

func lifecycle(code, display string) coding {
	return coding{System: sysLifecycle, Code: code, Display: display}
}

var shapes = map[string]eventShape{
	protocol.AuditPut: {restType, restful("create"), "C", "record",
		lifecycle("1", "Origination / Creation"), "The owner put the record"},
	protocol.AuditGrant: {restType, restful("create"), "C", "consent",
		lifecycle("1", "Origination / Creation"), "The owner granted access (a Consent came into being)"},
	// A committed access request is what lets the grant's nodes re-encrypt the record for
	// its recipient, once, within two minutes: the read as the ledger sees it.
	protocol.AuditRequest: {restType, restful("read"), "R", "record",
		lifecycle("6", "Access / Use"), "The recipient requested access to read the record"},
	protocol.AuditRevoke: {restType, restful("update"), "U", "consent",
		lifecycle("3", "Amendment"), "The owner revoked the grant (its Consent became inactive)"},
	protocol.AuditExpire: {restType, restful("update"), "U", "consent",
		lifecycle("3", "Amendment"), "The grant expired (its Consent became inactive)"},
	// Erasure deletes every copy the nodes hold and revokes every grant, but cannot reach
	// copies made outside the network (docs/threat-model.md): a logical deletion, not a
	// claim of physical destruction.
	protocol.AuditErase: {restType, restful("delete"), "D", "record",
		lifecycle("14", "Logical deletion"), "The owner erased the record"},
	protocol.AuditHolds: {restType, restful("create"), "C", "record",
		lifecycle("2", "Import / Copy"), "A node reported holding the record's sealed blob"},
	// The node's signed statement that it overwrote and deleted its key fragment of an
	// ended grant: a statement, not a proof (docs/threat-model.md).
	protocol.AuditDestroyed: {restType, restful("delete"), "D", "fragment",
		lifecycle("15", "Permanent erasure / Physical destruction"), "A node reported destroying its key fragment of the grant"},
	// Recovery by guardians acts on the recovery grant: the owner's sealed identity granted
	// to a recovery key (recovery/SPEC.md). Every entry names that grant.
	protocol.AuditRecoverySetup: {restType, restful("create"), "C", "consent",
		lifecycle("1", "Origination / Creation"), "The owner set up recovery by guardians (its sealed identity granted to a recovery key)"},
	protocol.AuditRecoveryStart: {restType, restful("create"), "C", "consent",
		lifecycle("3", "Amendment"), "A device started recovering the owner's identity"},
	protocol.AuditRecoveryApprove: {restType, restful("update"), "U", "consent",
		lifecycle("3", "Amendment"), "A guardian approved the recovery"},
	protocol.AuditRecoveryCancel: {restType, restful("update"), "U", "consent",
		lifecycle("3", "Amendment"), "The owner cancelled the recovery"},
	// Break-glass: a registered clinician's read under the patient's emergency
	// pre-authorisation, co-signed by a second clinician (protocol/SPEC.md §17).
	protocol.AuditEmergency: {restType, restful("read"), "R", "record",
		lifecycle("6", "Access / Use"), "An emergency read under the patient's pre-authorisation, co-signed by a second clinician"},
	protocol.AuditRecoveryFinish: {restType, restful("read"), "R", "record",
		lifecycle("6", "Access / Use"), "The recovering device finished: the nodes may re-encrypt the owner's sealed identity for it"},
	// Issued records (protocol/SPEC.md §19): an issuer wrote the record for its subject, who
	// owns it and accepts it (or erases it).
	protocol.AuditIssued: {restType, restful("create"), "C", "record",
		lifecycle("1", "Origination / Creation"), "An issuer wrote the record for its subject, who owns it"},
	protocol.AuditAccepted: {restType, restful("update"), "U", "record",
		lifecycle("3", "Amendment"), "The subject accepted the issued record into its records"},
	// Streams (protocol/SPEC.md §20) keep a log of their own, the stream's id in place of a
	// record's; reads under a stream grant are ordinary request entries.
	protocol.AuditStreamCreate: {restType, restful("create"), "C", "record",
		lifecycle("1", "Origination / Creation"), "The owner started the stream"},
	protocol.AuditStreamGrant: {restType, restful("create"), "C", "consent",
		lifecycle("1", "Origination / Creation"), "The owner granted a window of the stream's entry times (a Consent came into being)"},
	protocol.AuditStreamErase: {restType, restful("delete"), "D", "record",
		lifecycle("14", "Logical deletion"), "The owner erased the stream: every grant ended, every chunk tombstoned"},
}

// AuditEvents is the audit log of record rec on network nw (its entries in ledger order,
// as client.Session.Audit returns them) as FHIR R4 AuditEvents (JSON), one per entry.
// Every entry is a committed transaction (or an expiry), so every outcome is success; the
// observer is the ledger of the chain, whose entries the SDK believes only when f+1 nodes
// agree, and nodes appear as agents when they are the actors.
//
// The ledger does not know which nodes re-encrypted for an access request: only the
// recipient holds their signed receipts (client.Gathered.Receipts). Given receipts, the
// event of each request names, as further agents, the registry nodes whose receipt for
// that request verifies; receipts for other requests are ignored.
func AuditEvents(nw *protocol.Network, rec *protocol.Record, log []protocol.AuditEntry, receipts ...*protocol.CFragReceipt) ([][]byte, error) {
	if nw == nil || rec == nil {
		return nil, errors.New("fhir: AuditEvents needs the network and the record")
	}
	type request struct {
		tx    protocol.Hash32
		grant protocol.ID
	}
	signed := map[request]map[protocol.PubKey]bool{}
	for _, r := range receipts {
		if r == nil || !r.Verify(nw.ChainID) {
			continue
		}
		req := request{r.RequestTx, r.Grant}
		if signed[req] == nil {
			signed[req] = map[protocol.PubKey]bool{}
		}
		signed[req][r.Node] = true
	}
	// nodesFor lists, in registry order, the registry nodes whose receipt names entry e.
	nodesFor := func(e *protocol.AuditEntry) []protocol.Node {
		if e.Kind != protocol.AuditRequest || e.TxHash == nil || e.Grant == nil {
			return nil
		}
		var nodes []protocol.Node
		for _, n := range nw.Nodes {
			if signed[request{*e.TxHash, *e.Grant}][n.ProxyKey] {
				nodes = append(nodes, n)
			}
		}
		return nodes
	}
	out := make([][]byte, 0, len(log))
	for i := range log {
		ev, err := auditEventOf(nw, rec, &log[i], nodesFor(&log[i]))
		if err != nil {
			return nil, err
		}
		b, err := marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func auditEventOf(nw *protocol.Network, rec *protocol.Record, e *protocol.AuditEntry, reencrypted []protocol.Node) (*auditEvent, error) {
	shape, ok := shapes[e.Kind]
	if !ok {
		return nil, fmt.Errorf("fhir: audit entry of unknown kind %q", e.Kind)
	}
	if e.Record != rec.ID {
		return nil, fmt.Errorf("fhir: audit entry of record %s in the log of %s", e.Record, rec.ID)
	}
	if shape.on != "record" && e.Grant == nil {
		return nil, fmt.Errorf("fhir: %s audit entry without its grant", e.Kind)
	}
	enc, err := e.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// The id is a digest of the entry's canonical encoding: the same entry read from any
	// node, at any time, is the same AuditEvent, and no two entries share one.
	sum := sha256.Sum256(enc)
	ev := &auditEvent{
		ResourceType: "AuditEvent",
		ID:           hex.EncodeToString(sum[:]),
		Type:         shape.typ,
		Subtype:      []coding{shape.subtype},
		Action:       shape.action,
		Recorded:     instant(e.Time),
		Outcome:      "0",
		Source: auditSource{
			Site:     fhirString(nw.ChainID),
			Observer: chainReference(nw.ChainID),
			Type:     []coding{{System: sysSourceType, Code: "4", Display: "Application Server"}},
		},
	}
	purpose := ParsePurpose(e.Purpose)
	var purposes []codeableConcept
	if c := purpose.coding(); c != nil {
		purposes = []codeableConcept{{Coding: []coding{*c}}}
		ev.PurposeOfEvent = purposes
	}
	if e.Kind == protocol.AuditEmergency { // the purpose is the clinicians' stated reason
		purposes = []codeableConcept{{Coding: []coding{*ParsePurpose("ETREAT").coding()}, Text: fhirString(e.Purpose)}}
		ev.PurposeOfEvent = purposes
	}

	// Agents: who acted (requestor), then the network that committed it, as BALP's user
	// and server agents.
	actor := "the ledger, at the start of a block"
	if e.Actor != nil {
		// Who acts is fixed by the kind: the ledger lets only the owner put, grant, revoke
		// and erase, only the recipient request, and only grant or registry nodes report.
		a := auditAgent{Requestor: true}
		switch e.Kind {
		case protocol.AuditHolds, protocol.AuditDestroyed:
			a.Type = &codeableConcept{Coding: []coding{{System: sysDICOM, Code: "110150", Display: "Application"}}}
			a.Who = &reference{Identifier: &identifier{System: NodeSystem, Value: e.Actor.String()}}
			actor = "node " + e.Actor.String()
			if n, ok := nw.NodeByKey(*e.Actor); ok {
				a.Who.Display, a.Name = fhirString(n.Name), fhirString(n.Name)
				actor = "node " + n.Name
			}
		case protocol.AuditRequest:
			a.Type = &codeableConcept{Coding: []coding{{System: sysParticipation, Code: "IRCP", Display: "information recipient"}}}
			actor = "the recipient " + e.Actor.String()
		case protocol.AuditEmergency:
			a.Type = &codeableConcept{Coding: []coding{{System: sysParticipation, Code: "IRCP", Display: "information recipient"}}}
			actor = "the clinician " + e.Actor.String() + " with " + e.CoSigner.String()
		case protocol.AuditRecoveryApprove:
			a.Type = &codeableConcept{Coding: []coding{{System: sysRoleClass, Code: "GUARD", Display: "guardian"}}}
			actor = "the guardian " + e.Actor.String()
		case protocol.AuditIssued:
			a.Type = &codeableConcept{Coding: []coding{{System: sysParticipation, Code: "AUT", Display: "author (originator)"}}}
			actor = "the issuer " + e.Actor.String()
		case protocol.AuditRecoveryStart, protocol.AuditRecoveryFinish:
			a.Type = &codeableConcept{Coding: []coding{{System: sysParticipation, Code: "IRCP", Display: "information recipient"}}}
			actor = "the recovering device " + e.Actor.String()
		default:
			a.Type = &codeableConcept{Coding: []coding{{System: sysRoleClass, Code: "PAT", Display: "patient"}}}
			actor = "the owner " + e.Actor.String()
		}
		if e.For != nil { // a caregiver granted or revoked for the owner (protocol/SPEC.md §16)
			a.Type = &codeableConcept{Text: "caregiver acting for the patient"}
			actor = "the caregiver " + e.Actor.String() + " for the owner " + e.For.String()
		}
		if a.Who == nil {
			a.Who = &reference{Identifier: &identifier{System: SigningKeySystem, Value: e.Actor.String()}}
			a.PurposeOfUse = purposes
		}
		ev.Agent = append(ev.Agent, a)
		if e.CoSigner != nil { // the second clinician, who co-signed
			ev.Agent = append(ev.Agent, auditAgent{
				Type: &codeableConcept{Text: "co-signing clinician"},
				Who:  &reference{Identifier: &identifier{System: SigningKeySystem, Value: e.CoSigner.String()}},
			})
		}
		if e.For != nil {
			ev.Agent = append(ev.Agent, auditAgent{
				Type: &codeableConcept{Coding: []coding{{System: sysRoleClass, Code: "PAT", Display: "patient"}}},
				Who:  &reference{Identifier: &identifier{System: SigningKeySystem, Value: e.For.String()}},
			})
		}
	}
	for _, n := range reencrypted {
		// A data processor: the node transformed the record's capsule for the recipient
		// and, by construction, could not read the record.
		ev.Agent = append(ev.Agent, auditAgent{
			Type: &codeableConcept{Coding: []coding{{System: sysSecurityRole, Code: "dataprocessor", Display: "data processor"}}},
			Who:  &reference{Identifier: &identifier{System: NodeSystem, Value: n.ProxyKey.String()}, Display: fhirString(n.Name)},
			Name: fhirString(n.Name),
		})
	}
	network := chainReference(nw.ChainID)
	ev.Agent = append(ev.Agent, auditAgent{
		Type:      &codeableConcept{Coding: []coding{{System: sysDICOM, Code: "110152", Display: "Destination Role ID"}}},
		Who:       &network,
		Requestor: e.Actor == nil,
	})

	// Entities: what was acted on, with the transaction, then the patient (BALP).
	ledger := []auditDetail{{Type: "height", ValueString: itoa(e.Height)}}
	if e.TxHash != nil {
		ledger = append(ledger, auditDetail{Type: "transaction", ValueString: e.TxHash.String()})
	}
	recordEntity := auditEntity{
		What: &reference{Identifier: &identifier{System: RecordSystem, Value: rec.ID.String()}},
		Type: &coding{System: sysEntityType, Code: "2", Display: "System Object"},
		Role: &coding{System: sysObjectRole, Code: "4", Display: "Domain Resource"},
	}
	switch shape.on {
	case "record":
		recordEntity.Lifecycle = &shape.lifecycle
		recordEntity.Detail = ledger
		ev.Entity = append(ev.Entity, recordEntity)
		if e.Grant != nil { // a request names the grant it reads under
			ev.Entity = append(ev.Entity, grantEntity(*e.Grant, nil, nil))
		}
	case "consent":
		ev.Entity = append(ev.Entity, grantEntity(*e.Grant, &shape.lifecycle, ledger), recordEntity)
	case "fragment":
		g := grantEntity(*e.Grant, &shape.lifecycle, ledger)
		g.Name = "key fragment of grant " + e.Grant.String() + " held by " + actor
		ev.Entity = append(ev.Entity, g, recordEntity)
	}
	ev.Entity = append(ev.Entity, auditEntity{
		What: &reference{Identifier: &identifier{System: SigningKeySystem, Value: rec.Owner.String()}},
		Type: &coding{System: sysEntityType, Code: "1", Display: "Person"},
		Role: &coding{System: sysObjectRole, Code: "1", Display: "Patient"},
	})

	text := []string{fmt.Sprintf("%s (%s at height %d on chain %s): %s.", shape.what, e.Kind, e.Height, nw.ChainID, actor)}
	if purpose != (Purpose{}) {
		text = append(text, fmt.Sprintf("Purpose: %s.", purpose.Display))
	}
	if len(reencrypted) > 0 {
		names := make([]string, len(reencrypted))
		for i, n := range reencrypted {
			names[i] = n.Name
		}
		text = append(text, fmt.Sprintf("Re-encrypted for the recipient by %s (their signed receipts).", strings.Join(names, ", ")))
	}
	ev.Text = generated(text...)
	return ev, nil
}

// grantEntity names a grant as the Consent this package exports for it (whose id is the
// grant id), so that a Bundle of both resolves.
func grantEntity(grant protocol.ID, lc *coding, detail []auditDetail) auditEntity {
	return auditEntity{
		What: &reference{
			Reference:  "Consent/" + grant.String(),
			Identifier: &identifier{System: GrantSystem, Value: grant.String()},
		},
		Type:      &coding{System: sysEntityType, Code: "2", Display: "System Object"},
		Role:      &coding{System: sysObjectRole, Code: "13", Display: "Security Resource"},
		Lifecycle: lc,
		Detail:    detail,
	}
}
