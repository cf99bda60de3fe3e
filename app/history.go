package app

import (
	"net/http"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// event is one line of a record's history, told in words.
type event struct {
	Kind    string       `json:"kind"` // the ledger's: put, grant, request, revoke, expire, erase, holds, destroyed
	Text    string       `json:"text"` // what happened, in a sentence
	Who     string       `json:"who,omitempty"`
	With    string       `json:"with,omitempty"` // for the events of a share: whom it was made to
	Purpose string       `json:"purpose,omitempty"`
	Grant   *protocol.ID `json:"grant,omitempty"`
	From    *time.Time   `json:"from,omitempty"` // for a share that starts later: when
	Time    time.Time    `json:"time"`
	Height  int64        `json:"height"`
}

// history is a record's audit log, oldest first. Anyone may read any record's log; the
// names it shows are those this identity knows: itself, the network's nodes, and the people
// the record was shared with.
func (a *App) history(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "record")
	if !ok {
		return
	}
	rec, err := a.s.Record(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	log, err := a.s.Audit(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	people := map[protocol.PubKey]string{}
	with := map[protocol.ID]string{}
	from := map[protocol.ID]time.Time{}
	if gs, err := a.s.Grants(r.Context(), id); err == nil {
		for _, g := range gs {
			people[g.RecipientSig] = client.RecipientString(g)
			with[g.ID] = a.who(g.RecipientSig, people)
			if g.NotBefore != 0 {
				from[g.ID] = nanoTime(g.NotBefore)
			}
		}
	}
	out := make([]event, 0, len(log))
	for _, e := range log {
		ev := event{Kind: e.Kind, Purpose: e.Purpose, Grant: e.Grant, Time: nanoTime(e.Time), Height: e.Height}
		if e.Actor != nil {
			ev.Who = a.who(*e.Actor, people)
			if e.For != nil { // a caregiver acting for the owner
				ev.Who += " for " + a.who(*e.For, people)
			}
			if e.CoSigner != nil { // break-glass: the second clinician co-signed
				ev.Who += " with " + a.who(*e.CoSigner, people)
			}
		}
		if e.Grant != nil {
			ev.With = with[*e.Grant]
			if t, ok := from[*e.Grant]; ok && e.Kind == protocol.AuditGrant {
				ev.From = &t
			}
		}
		ev.Text = eventText(e.Kind, ev.Who)
		out = append(out, ev)
	}
	writeJSON(w, http.StatusOK, map[string]any{"record": a.recordView(r.Context(), rec), "events": out})
}

// who names a key: "you", a contact by their name, a node by its name, a recipient by the
// identity the record was shared with, else the key itself.
func (a *App) who(k protocol.PubKey, people map[protocol.PubKey]string) string {
	if k == protocol.PubKeyOf(a.s.Identity().Signing) {
		return "you"
	}
	if name, ok := a.book.NameOf(k); ok {
		return name
	}
	for _, n := range a.s.Network().Nodes {
		if n.ProxyKey == k {
			return "node " + n.Name
		}
	}
	if p, ok := people[k]; ok {
		return p
	}
	return k.String()
}

func eventText(kind, who string) string {
	switch kind {
	case protocol.AuditPut:
		return "Stored on the network"
	case protocol.AuditGrant:
		return "Shared"
	case protocol.AuditRequest:
		return "Read"
	case protocol.AuditRevoke:
		return "Share withdrawn"
	case protocol.AuditExpire:
		return "Share ran out"
	case protocol.AuditErase:
		return "Erased"
	case protocol.AuditHolds:
		return "A copy is held by " + who
	case protocol.AuditDestroyed:
		return "Key part destroyed by " + who
	case protocol.AuditRecoverySetup:
		return "Recovery by guardians set up"
	case protocol.AuditRecoveryStart:
		return "Someone started recovering your identity on another device"
	case protocol.AuditRecoveryApprove:
		return "A guardian approved a recovery: " + who
	case protocol.AuditRecoveryCancel:
		return "Recovery cancelled"
	case protocol.AuditRecoveryFinish:
		return "Your identity was recovered on another device"
	case protocol.AuditEmergency:
		return "Emergency read by " + who
	case protocol.AuditIssued:
		return "Issued to you by " + who
	case protocol.AuditAccepted:
		return "Accepted into your records"
	case protocol.AuditStreamCreate:
		return "Stream started"
	case protocol.AuditStreamGrant:
		return "A window of the stream shared"
	case protocol.AuditStreamErase:
		return "Stream erased"
	}
	return kind
}
