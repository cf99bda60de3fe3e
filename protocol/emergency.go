package protocol

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Break-glass (SPEC.md §17). A registry node's operator registers an emergency service: its
// organisation's keys, whose secret stays on the service's station, and its clinicians'
// signing keys (RegisterService). A patient pre-authorises emergency access to a record by an
// ordinary Grant to the service's organisation key; the ledger never lets a RequestAccess use
// such a grant. An EmergencyRequest of one registered clinician of the service, co-signed by
// another, commits an `emergency` audit entry with both of them and the reason, and for
// EmergencyWindow of block time the nodes re-encrypt the record for the organisation key.

const (
	TxRegisterService  TxType = 17
	TxEmergencyRequest TxType = 18
)

// Bounds of a service's registration.
const (
	MaxServiceName = 64
	MaxPersonName  = 64
	MaxClinicians  = 32
	MaxReason      = MaxPurpose
)

// EmergencyWindow is how long, in block time, a committed EmergencyRequest lets the nodes
// re-encrypt for the service: long enough for a resuscitation team to read what it needs,
// short enough that a second look needs a second co-signed request, in the audit again.
const EmergencyWindow = time.Hour

// Clinician is a registered clinician of an emergency service.
type Clinician struct {
	Key  PubKey `json:"key"`
	Name string `json:"name"`
}

// RegisterService registers an emergency service, or replaces the clinicians of one
// registered under the same name and keys. Only a registry node's proxy key may sign it.
type RegisterService struct {
	Name       string
	Org        PubKey // the organisation's signing key: it signs re-encryption requests
	OrgEnc     PubKey // the organisation's receiving key: what the nodes re-encrypt for
	Clinicians []Clinician
}

// EmergencyRequest asks, as a registered clinician of the service the grant was made to, for
// an emergency read under Grant. CoSig is a second registered clinician's signature of
// EmergencyCoSignBytes of the same transaction, by CoSigner.
type EmergencyRequest struct {
	Grant    ID
	Reason   string
	CoSigner PubKey
	CoSig    Sig
}

func (*RegisterService) Type() TxType  { return TxRegisterService }
func (*EmergencyRequest) Type() TxType { return TxEmergencyRequest }

func (b *RegisterService) encode(w *writer) {
	w.str(b.Name)
	w.raw(b.Org[:])
	w.raw(b.OrgEnc[:])
	w.u8(uint8(len(b.Clinicians)))
	for _, c := range b.Clinicians {
		w.raw(c.Key[:])
		w.str(c.Name)
	}
}

func (b *RegisterService) decode(r *reader) {
	b.Name = r.str(MaxServiceName, "service name")
	r.fixed(b.Org[:], "organisation key")
	r.fixed(b.OrgEnc[:], "organisation receiving key")
	n := int(r.u8("clinician count"))
	if n > MaxClinicians {
		r.fail("%d clinicians, limit %d", n, MaxClinicians)
		return
	}
	b.Clinicians = make([]Clinician, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.fixed(b.Clinicians[i].Key[:], "clinician key")
		b.Clinicians[i].Name = r.str(MaxPersonName, "clinician name")
	}
}

func validName(s string, max int, what string) error {
	if s == "" || len(s) > max || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return Errorf(ErrInvalid, "%s must be 1..%d bytes of UTF-8 without surrounding space", what, max)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return Errorf(ErrInvalid, "%s has a control character", what)
		}
	}
	return nil
}

func (b *RegisterService) validate() error {
	if err := validName(b.Name, MaxServiceName, "a service name"); err != nil {
		return err
	}
	if !b.Org.Valid() || !b.OrgEnc.Valid() {
		return Errorf(ErrInvalid, "an organisation key is not a valid point")
	}
	// Fewer than two clinicians could never co-sign a request.
	if len(b.Clinicians) < 2 {
		return Errorf(ErrInvalid, "a service needs at least two clinicians: every emergency read is co-signed")
	}
	seen := map[PubKey]bool{b.Org: true}
	for _, c := range b.Clinicians {
		if !c.Key.Valid() {
			return Errorf(ErrInvalid, "clinician %q: key is not a valid point", c.Name)
		}
		if seen[c.Key] {
			return Errorf(ErrInvalid, "clinician %q: key listed twice, or is the organisation's", c.Name)
		}
		seen[c.Key] = true
		if err := validName(c.Name, MaxPersonName, "a clinician's name"); err != nil {
			return err
		}
	}
	return nil
}

func (b *EmergencyRequest) encode(w *writer) {
	w.raw(b.Grant[:])
	w.str(b.Reason)
	w.raw(b.CoSigner[:])
	w.raw(b.CoSig[:])
}

func (b *EmergencyRequest) decode(r *reader) {
	r.fixed(b.Grant[:], "grant")
	b.Reason = r.str(MaxReason, "reason")
	r.fixed(b.CoSigner[:], "co-signer")
	r.fixed(b.CoSig[:], "co-signature")
}

func (b *EmergencyRequest) validate() error {
	if strings.TrimSpace(b.Reason) == "" {
		return Errorf(ErrInvalid, "an emergency request states its reason")
	}
	if err := validText(b.Reason); err != nil {
		return err
	}
	if !b.CoSigner.Valid() {
		return Errorf(ErrInvalid, "co-signer is not a valid point")
	}
	return nil
}

const emergencyCoSignDomain = "resilientrecords/ledger/emergency-cosign/v1\x00"

// EmergencyCoSignBytes is what the co-signer of an EmergencyRequest signs: the request's
// signer, sequence and expiry as well as its grant and reason, so that a co-signature serves
// one transaction only and cannot be kept for a later emergency.
func EmergencyCoSignBytes(tx *Tx) []byte {
	b, _ := tx.Body.(*EmergencyRequest)
	if b == nil {
		return nil
	}
	return signingBytes(emergencyCoSignDomain, tx.ChainID, func(w *writer) {
		w.raw(tx.Signer[:])
		w.u64(tx.Sequence)
		w.i64(tx.Expires)
		w.raw(b.Grant[:])
		w.str(b.Reason)
		w.raw(b.CoSigner[:])
	})
}

// CoSign sets the co-signer and co-signature of tx, an EmergencyRequest whose Signer,
// Sequence, Expires and ChainID are set, with the second clinician's signer s. The
// requesting clinician signs the transaction after.
func CoSign(s *umbral.Signer, tx *Tx) error {
	b, ok := tx.Body.(*EmergencyRequest)
	if !ok {
		return Errorf(ErrInvalid, "only an emergency request is co-signed")
	}
	b.CoSigner = PubKeyOf(s.VerifyingKey())
	sig, err := sign(s, EmergencyCoSignBytes(tx))
	b.CoSig = sig
	return err
}

// VerifyCoSig checks an EmergencyRequest's co-signature.
func VerifyCoSig(tx *Tx) bool {
	b, ok := tx.Body.(*EmergencyRequest)
	return ok && Verify(b.CoSigner, EmergencyCoSignBytes(tx), b.CoSig)
}

// ServiceState is a registered emergency service.
type ServiceState struct {
	Name       string      `json:"name"`
	Org        PubKey      `json:"org"`
	OrgEnc     PubKey      `json:"org_enc"`
	Clinicians []Clinician `json:"clinicians"`
	By         PubKey      `json:"by"` // the proxy key of the node whose operator last registered it
	Height     int64       `json:"height"`
	Time       int64       `json:"time"`
	TxHash     Hash32      `json:"tx_hash"`
}

// Clinician returns the service's clinician with key k, or nil.
func (s *ServiceState) Clinician(k PubKey) *Clinician {
	for i := range s.Clinicians {
		if s.Clinicians[i].Key == k {
			return &s.Clinicians[i]
		}
	}
	return nil
}

func (s *ServiceState) MarshalBinary() ([]byte, error) {
	if len(s.Clinicians) > MaxClinicians || len(s.Name) > MaxServiceName {
		return nil, Errorf(ErrInvalid, "service state out of bounds")
	}
	w := newWriter(256)
	w.u8(stateVersion)
	(&RegisterService{Name: s.Name, Org: s.Org, OrgEnc: s.OrgEnc, Clinicians: s.Clinicians}).encode(w)
	w.raw(s.By[:])
	w.i64(s.Height)
	w.i64(s.Time)
	w.raw(s.TxHash[:])
	return w.finish(), nil
}

func (s *ServiceState) UnmarshalBinary(b []byte) error {
	r := newReader(b)
	r.version("service")
	*s = ServiceState{}
	var reg RegisterService
	reg.decode(r)
	s.Name, s.Org, s.OrgEnc, s.Clinicians = reg.Name, reg.Org, reg.OrgEnc, reg.Clinicians
	r.fixed(s.By[:], "by")
	s.Height = r.i64("height")
	s.Time = r.i64("time")
	r.fixed(s.TxHash[:], "tx hash")
	return r.finish()
}
