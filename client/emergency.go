package client

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// Break-glass (protocol/SPEC.md §17). The owner pre-authorises a registered emergency
// service with PreAuthorise; in an emergency a second clinician of the service co-signs
// (CoSign) the request of the first, who then reads with the organisation's key at the
// service's station (EmergencyRead).

// Service is a registered emergency service, as f+1 nodes say.
func (s *Session) Service(ctx context.Context, name string) (*protocol.ServiceState, error) {
	var v protocol.ServiceState
	if _, err := s.l.query(ctx, "/service/"+url.PathEscape(name), nil, &v); err != nil {
		return nil, classify(err)
	}
	return &v, nil
}

// PreAuthorise lets the emergency service registered as name read record under a committed,
// co-signed emergency request: an ordinary grant to the service's organisation keys, which
// the owner revokes as any other.
func (s *Session) PreAuthorise(ctx context.Context, record protocol.ID, name string, o GrantOptions) (*GrantResult, error) {
	svc, err := s.Service(ctx, name)
	if err != nil {
		return nil, err
	}
	org, err := publicIdentity(svc.Org, svc.OrgEnc)
	if err != nil {
		return nil, fmt.Errorf("%w: service %q keys: %v", ErrNodeAnswer, name, err)
	}
	return s.Grant(ctx, record, org, o)
}

// CoSignature is a second clinician's consent to one emergency request: of the requesting
// clinician at Sequence, valid until Expires, under Grant, for the reason both give.
type CoSignature struct {
	Grant    protocol.ID
	Sequence uint64
	Expires  int64
	CoSigner protocol.PubKey
	Sig      protocol.Sig
}

const (
	coSigPrefix = "rrec-cosig1-"
	coSigBytes  = 32 + 8 + 8 + 33 + 64
)

// String is the co-signature as the requesting clinician types or pastes it.
func (c *CoSignature) String() string {
	b := make([]byte, 0, coSigBytes)
	b = append(b, c.Grant[:]...)
	b = binary.BigEndian.AppendUint64(b, c.Sequence)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires))
	b = append(b, c.CoSigner[:]...)
	b = append(b, c.Sig[:]...)
	return coSigPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseCoSignature reads what CoSignature.String wrote; whether it verifies is the ledger's
// to say, since it signs the requester's sequence and the reason.
func ParseCoSignature(text string) (*CoSignature, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), coSigPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(coSigBytes) {
		return nil, fmt.Errorf("not a co-signature: want the %s... text 'rrec emergency cosign' printed", coSigPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != coSigBytes {
		return nil, fmt.Errorf("not a co-signature: %s... text damaged", coSigPrefix)
	}
	c := &CoSignature{}
	b = b[copy(c.Grant[:], b):]
	c.Sequence = binary.BigEndian.Uint64(b)
	c.Expires = int64(binary.BigEndian.Uint64(b[8:]))
	b = b[16+copy(c.CoSigner[:], b[16:]):]
	copy(c.Sig[:], b)
	if c.Expires <= 0 || !c.CoSigner.Valid() {
		return nil, fmt.Errorf("not a co-signature: %s... text damaged", coSigPrefix)
	}
	return c, nil
}

// CoSign is the second clinician's act: it signs the emergency request that requester, a
// clinician of the same service, is about to make for record with reason. The requester must
// send it within TxLifetime and as its next transaction, since the co-signature covers its
// sequence.
func (s *Session) CoSign(ctx context.Context, record protocol.ID, name string, requester protocol.PubKey, reason string) (*CoSignature, error) {
	svc, err := s.Service(ctx, name)
	if err != nil {
		return nil, err
	}
	if svc.Clinician(s.me) == nil || svc.Clinician(requester) == nil || requester == s.me {
		return nil, fmt.Errorf("%w: both clinicians must be two different ones on service %q's roster", ErrUnauthorized, name)
	}
	g, err := s.preAuthorisation(ctx, record, svc)
	if err != nil {
		return nil, err
	}
	var acc struct {
		Sequence uint64 `json:"sequence"`
	}
	if _, err := s.l.query(ctx, "/account/"+requester.String(), nil, &acc); err != nil && !errors.Is(err, protocol.ErrNotFound) {
		return nil, classify(err)
	}
	tx := &protocol.Tx{ChainID: s.nw.ChainID, Signer: requester, Sequence: acc.Sequence,
		Expires: time.Now().Add(TxLifetime).UnixNano(), Body: &protocol.EmergencyRequest{Grant: g.ID, Reason: reason}}
	if err := protocol.CoSign(s.id.Signer(), tx); err != nil {
		return nil, err
	}
	b := tx.Body.(*protocol.EmergencyRequest)
	return &CoSignature{Grant: g.ID, Sequence: tx.Sequence, Expires: tx.Expires, CoSigner: b.CoSigner, Sig: b.CoSig}, nil
}

// EmergencyRead is the requesting clinician's act at the service's station: it commits the
// co-signed emergency request for record with the same reason, has the nodes re-encrypt for
// the organisation org, and writes the opened record to w.
func (s *Session) EmergencyRead(ctx context.Context, record protocol.ID, reason string, cs *CoSignature, org *identity.Identity, w io.Writer) (*envelope.Metadata, error) {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	g, err := s.GrantState(ctx, cs.Grant)
	if err != nil {
		return nil, err
	}
	if g.Record != record || g.RecipientSig != protocol.PubKeyOf(org.Public().Signing) {
		return nil, fmt.Errorf("%w: the co-signature's grant is not this record's pre-authorisation for this organisation", ErrNotGranted)
	}
	tx := &protocol.Tx{ChainID: s.nw.ChainID, Signer: s.me, Sequence: cs.Sequence, Expires: cs.Expires,
		Body: &protocol.EmergencyRequest{Grant: cs.Grant, Reason: reason, CoSigner: cs.CoSigner, CoSig: cs.Sig}}
	if err := tx.Sign(s.id.Signer()); err != nil {
		return nil, err
	}
	done, err := s.submitRaw(ctx, tx.Sequence, tx.Encode())
	if err != nil {
		return nil, fmt.Errorf("emergency request: %w", classify(err))
	}
	got, err := s.api.Gather(ctx, &Access{ChainID: s.nw.ChainID, Grant: g, Record: rec, RequestTx: done.hash, Height: done.height},
		org.Signer(), s.nw.Nodes)
	if err != nil {
		return nil, classify(err)
	}
	dpk, err := umbral.PublicKeyFromBytes(rec.DelegatingKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: record delegating key: %v", ErrNodeAnswer, err)
	}
	return s.fetchOpen(ctx, rec, envelope.RecipientKey{Receiving: org.ReceivingKey(), Delegating: dpk, CFrags: got.CFrags}, w, collect(nil))
}

// preAuthorisation is the live grant of record to svc's organisation.
func (s *Session) preAuthorisation(ctx context.Context, record protocol.ID, svc *protocol.ServiceState) (*protocol.GrantState, error) {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	gs, now, err := allAt[*protocol.GrantState](ctx, s, "/grants/recipient/"+svc.Org.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	for i := len(gs) - 1; i >= 0; i-- {
		if g := gs[i]; g.Record == record && g.RecipientEnc == svc.OrgEnc && grantErr(g, rec, now) == nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("record %s: %w: its owner has not pre-authorised service %q, and without that nothing can be read", record, ErrNotGranted, svc.Name)
}

// submitRaw commits a transaction signed elsewhere at seq, without enrolling: a registered
// clinician's emergency request needs no admitted account.
func (s *Session) submitRaw(ctx context.Context, seq uint64, raw []byte) (*txDone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.l.submit(ctx, raw)
	if res == nil {
		return nil, err
	}
	s.nextSeq, s.seqKnown = seq+1, true
	return &txDone{seq: seq, hash: res.Hash, height: res.Height, res: res}, err
}

// Services lists the registered emergency services, as f+1 nodes say.
func (s *Session) Services(ctx context.Context) ([]*protocol.ServiceState, error) {
	var v []*protocol.ServiceState
	if _, err := s.l.query(ctx, "/services", nil, &v); err != nil {
		return nil, classify(err)
	}
	return v, nil
}
