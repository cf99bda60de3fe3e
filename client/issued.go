package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/issued"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Issued records (SPEC.md §10): a subject opens slots, an issuer seals an issued document
// under one of them, the subject accepts (or refuses) what it finds in its inbox.

// ErrInboxClosed: the subject has no open inbox slot, so nothing can be issued to it until
// it opens some.
var ErrInboxClosed = errors.New("client: the subject has no open inbox slot for this issuer (it must open one first: OpenInbox)")

// ownKey is the delegating key this identity sealed rec under, or had it sealed under: the
// inbox key of its slot for an issued record, else the record's own.
func (s *Session) ownKey(rec *protocol.Record) (*umbral.SecretKey, error) {
	var dk *umbral.SecretKey
	if rec.Issued != nil {
		dk = s.id.InboxKey(rec.Issued.Slot)
	} else {
		var err error
		if dk, err = s.id.DelegatingKey(rec.ID[:]); err != nil {
			return nil, err
		}
	}
	if protocol.PubKeyOf(dk.PublicKey()) != rec.DelegatingKey {
		return nil, errors.New("client: the record is not sealed under this identity's key for it")
	}
	return dk, nil
}

// InboxSlots returns an account's inbox: its next slot number and its open, unused slots.
func (s *Session) InboxSlots(ctx context.Context, subject protocol.PubKey) (*protocol.InboxState, error) {
	var in protocol.InboxState
	if _, err := s.l.query(ctx, "/inbox/"+subject.String(), nil, &in); err != nil {
		return nil, fmt.Errorf("inbox of %s: %w", subject, err)
	}
	return &in, nil
}

// OpenInbox opens n more slots (1..protocol.MaxOpenSlots, with those already open): it
// publishes their one-time keys, so that issuers may write n records into this identity's
// space, each counting against its allowance. It returns the inbox after.
//
// With from set only that identity may issue into the new slots: nobody else can spend
// them, nor the allowance they hold for it.
func (s *Session) OpenInbox(ctx context.Context, n int, from *identity.Public) (*protocol.InboxState, error) {
	if n < 1 || n > protocol.MaxOpenSlots {
		return nil, fmt.Errorf("client: an inbox opens 1..%d slots at once", protocol.MaxOpenSlots)
	}
	_, err := s.transact(ctx, func(uint64) (protocol.Body, error) {
		in, err := s.InboxSlots(ctx, s.me)
		if err != nil {
			return nil, err
		}
		if int(in.Open)+n > protocol.MaxOpenSlots {
			n = protocol.MaxOpenSlots - int(in.Open)
			if n == 0 {
				return nil, fmt.Errorf("client: all %d slots are open already", protocol.MaxOpenSlots)
			}
		}
		b := &protocol.OpenInbox{FirstSlot: in.Next}
		if from != nil {
			issuer := protocol.PubKeyOf(from.Signing)
			b.Issuer = &issuer
		}
		for i := range n {
			b.Keys = append(b.Keys, protocol.PubKeyOf(s.id.InboxKey(in.Next+uint32(i)).PublicKey()))
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return s.InboxSlots(ctx, s.me)
}

// Issue signs content as an issued document for subject (issued/SPEC.md), seals it under
// one of the subject's open inbox slots, uploads it and commits the Issue. The record is the
// subject's: this identity keeps no key that opens it. If another issuer takes the slot
// first, Issue tries the next one.
func (s *Session) Issue(ctx context.Context, subject identity.Public, name, mediaType string, content []byte) (protocol.ID, error) {
	doc, err := issued.New(s.id, subject, time.Now(), mediaType, name, content)
	if err != nil {
		return protocol.ID{}, err
	}
	to := protocol.PubKeyOf(subject.Signing)
	s.mu.Lock()
	err = s.admit(ctx) // before the upload, which nodes refuse otherwise
	s.mu.Unlock()
	if err != nil {
		return protocol.ID{}, err
	}
	meta := envelope.Metadata{Name: name, MediaType: issuedMediaType, Created: time.Now()}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		in, err := s.InboxSlots(ctx, to)
		if err != nil {
			return protocol.ID{}, err
		}
		// A slot the subject opened for this issuer alone first; else one open to anyone,
		// issuers racing for those spreading over them by their own key.
		var mine, anyone []protocol.InboxSlot
		for _, sl := range in.Slots {
			switch {
			case sl.Issuer == nil:
				anyone = append(anyone, sl)
			case *sl.Issuer == s.me:
				mine = append(mine, sl)
			}
		}
		var slot protocol.InboxSlot
		switch {
		case len(mine) > 0:
			slot = mine[0]
		case len(anyone) > 0:
			slot = anyone[int(s.me[1])%len(anyone)]
		default:
			return protocol.ID{}, ErrInboxClosed
		}
		body, err := s.sealIssued(ctx, doc, slot, to, meta)
		if err != nil {
			return protocol.ID{}, err
		}
		done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
		if err == nil {
			return protocol.RecordID(s.nw.ChainID, s.me, done.seq), nil
		}
		if !errors.Is(err, protocol.ErrSlotUnavailable) {
			return protocol.ID{}, err
		}
		lastErr = err
	}
	return protocol.ID{}, fmt.Errorf("client: the subject's slots kept being taken: %w", lastErr)
}

// issuedMediaType is the envelope's media type of an issued document; the content's own
// type is in the document's header.
const issuedMediaType = "application/vnd.rrec.issued"

// sealIssued seals doc under slot's key and uploads it: the Issue body for slot.
func (s *Session) sealIssued(ctx context.Context, doc []byte, slot protocol.InboxSlot, to protocol.PubKey, meta envelope.Metadata) (*protocol.Issue, error) {
	pk, err := umbral.PublicKeyFromBytes(slot.Key[:])
	if err != nil {
		return nil, fmt.Errorf("%w: slot key of %s is not a point", ErrNodeAnswer, to)
	}
	meta.Size = int64(len(doc))
	f, err := os.CreateTemp(s.tmp, "rrec-issue-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c, sealed, err := sealTo(f, bytes.NewReader(doc), pk, meta)
	if err != nil {
		return nil, err
	}
	h, err := envelope.ParseHeader(io.NewSectionReader(f, 0, sealed))
	if err != nil {
		return nil, err
	}
	capsule, err := h.Capsule().MarshalBinary()
	if err != nil {
		return nil, err
	}
	got, err := s.blobs.Upload(ctx, f, sealed)
	if err != nil {
		return nil, fmt.Errorf("client: upload: %w", classify(err))
	}
	if !got.Equals(c) {
		return nil, fmt.Errorf("%w: %s, computed %s", ErrCIDMismatch, got, c)
	}
	body := &protocol.Issue{Subject: to, Slot: slot.Slot, CID: []byte(c.String()), Size: uint64(sealed)}
	copy(body.Capsule[:], capsule)
	return body, nil
}

// Inbox lists the issued records waiting for this identity to accept or refuse them, each
// with its issuer (Record.Issued) and block time.
func (s *Session) Inbox(ctx context.Context) ([]*protocol.Record, error) {
	var recs []*protocol.Record
	key := func(raw json.RawMessage) ([]byte, error) {
		var rs []*protocol.Record
		if err := json.Unmarshal(raw, &rs); err != nil {
			return nil, err
		}
		for _, r := range rs {
			decisiveRecord(r)
		}
		return json.Marshal(rs)
	}
	if _, err := s.l.query(ctx, "/inbox/pending/"+s.me.String(), key, &recs); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return recs, nil
}

// Accept takes an issued record out of the inbox: from then on it may be granted.
//
// An accepted record joins this identity's delegations that have not ended, as a record it
// puts does (SPEC.md §7); on an error of that step the record is accepted all the same.
func (s *Session) Accept(ctx context.Context, record protocol.ID) error {
	_, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.AcceptIssued{Record: record}, nil })
	if err != nil {
		return err
	}
	return s.joinDelegations(ctx, record)
}

// Refuse erases an issued record this identity does not want; its blob goes from every node.
func (s *Session) Refuse(ctx context.Context, record protocol.ID) error {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return err
	}
	if rec.Issued == nil {
		return fmt.Errorf("client: record %s was not issued to this identity; erase it instead", record)
	}
	return s.Erase(ctx, record)
}
