package ledger

import (
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Break-glass (SPEC.md §4.2, protocol/SPEC.md §17). A registry node's operator registers an
// emergency service (RegisterService); a grant whose recipient is a registered service's
// organisation key is the owner's pre-authorisation, and no RequestAccess may use it. An
// EmergencyRequest of a registered clinician, co-signed by a second one of the same service,
// is logged as an `emergency` entry and indexed as a request is, for the nodes to find.

func loadService(s Store, name string) (*protocol.ServiceState, error) {
	var v protocol.ServiceState
	if ok, err := getValue(s, key(pService, []byte(name)), &v); err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// serviceOfOrg is the service whose organisation key is org, or nil.
func serviceOfOrg(s Store, org protocol.PubKey) (*protocol.ServiceState, error) {
	name, err := s.Get(key(pServiceOrg, org[:]))
	if err != nil || name == nil {
		return nil, err
	}
	return loadService(s, string(name))
}

// serviceOfClinician is the service that registered clinician k, or nil.
func serviceOfClinician(s Store, k protocol.PubKey) (*protocol.ServiceState, error) {
	name, err := s.Get(key(pClinician, k[:]))
	if err != nil || name == nil {
		return nil, err
	}
	return loadService(s, string(name))
}

func applyRegisterService(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.RegisterService, res *applied) error {
	if !bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrUnauthorized, "only a registry node's operator registers an emergency service")
	}
	keys := []protocol.PubKey{b.Org, b.OrgEnc}
	for _, c := range b.Clinicians {
		keys = append(keys, c.Key)
	}
	for _, k := range keys {
		if bc.Nodes[k] {
			return protocol.Errorf(protocol.ErrInvalid, "a node's proxy key is never a service's or a clinician's")
		}
	}
	prev, err := loadService(o, b.Name)
	if err != nil {
		return err
	}
	if prev != nil && (prev.Org != b.Org || prev.OrgEnc != b.OrgEnc) {
		return protocol.Errorf(protocol.ErrAlreadyExists, "service %q is registered with other organisation keys", b.Name)
	}
	if other, err := serviceOfOrg(o, b.Org); err != nil {
		return err
	} else if other != nil && other.Name != b.Name {
		return protocol.Errorf(protocol.ErrAlreadyExists, "organisation key already registered as service %q", other.Name)
	}
	for _, c := range b.Clinicians {
		if other, err := serviceOfClinician(o, c.Key); err != nil {
			return err
		} else if other != nil && other.Name != b.Name {
			return protocol.Errorf(protocol.ErrAlreadyExists, "clinician %q is registered with service %q", c.Name, other.Name)
		}
		if as, err := serviceOfOrg(o, c.Key); err != nil {
			return err
		} else if as != nil {
			return protocol.Errorf(protocol.ErrInvalid, "clinician %q: key is service %q's organisation key", c.Name, as.Name)
		}
	}
	if c, err := serviceOfClinician(o, b.Org); err != nil {
		return err
	} else if c != nil {
		return protocol.Errorf(protocol.ErrInvalid, "the organisation key is a clinician's of service %q", c.Name)
	}
	// A re-registration replaces the roster: who left the service may no longer ask.
	if prev != nil {
		for _, c := range prev.Clinicians {
			o.del(key(pClinician, c.Key[:]))
		}
	}
	s := protocol.ServiceState{Name: b.Name, Org: b.Org, OrgEnc: b.OrgEnc, Clinicians: append([]protocol.Clinician(nil), b.Clinicians...),
		By: tx.Signer, Height: bc.Height, Time: bc.Time, TxHash: res.hash}
	setValue(o, key(pService, []byte(b.Name)), &s)
	o.set(key(pServiceOrg, b.Org[:]), []byte(b.Name))
	for _, c := range b.Clinicians {
		o.set(key(pClinician, c.Key[:]), []byte(b.Name))
	}
	return nil
}

func applyEmergencyRequest(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.EmergencyRequest, res *applied) error {
	g, err := loadGrant(o, b.Grant)
	if err != nil {
		return err
	}
	svc, err := serviceOfOrg(o, g.RecipientSig)
	if err != nil {
		return err
	}
	if svc == nil || svc.OrgEnc != g.RecipientEnc {
		return protocol.Errorf(protocol.ErrUnauthorized, "grant %s is no emergency pre-authorisation: without one the owner's record cannot be read", g.ID)
	}
	if svc.Clinician(tx.Signer) == nil {
		return protocol.Errorf(protocol.ErrUnauthorized, "%s is not a registered clinician of service %q", tx.Signer, svc.Name)
	}
	if b.CoSigner == tx.Signer {
		return protocol.Errorf(protocol.ErrUnauthorized, "an emergency read needs a second clinician's co-signature")
	}
	if svc.Clinician(b.CoSigner) == nil {
		return protocol.Errorf(protocol.ErrUnauthorized, "co-signer %s is not a registered clinician of service %q", b.CoSigner, svc.Name)
	}
	if !protocol.VerifyCoSig(tx) {
		return protocol.Errorf(protocol.ErrBadSignature, "the co-signature does not verify")
	}
	if err := checkNotErased(o, g.Record); err != nil {
		return err
	}
	if err := g.LiveAt(bc.Time); err != nil {
		return err
	}
	res.record, res.grant = g.Record, g.ID
	if err := indexRequest(o, g.Record, res.hash); err != nil {
		return err
	}
	e := logged(protocol.AuditEmergency, g.Record, tx.Signer, bc, res)
	cosigner := b.CoSigner
	e.Grant, e.Purpose, e.CoSigner = &g.ID, b.Reason, &cosigner
	return audit(o, e)
}

// isEmergencyGrant reports whether g's recipient is a registered service: the grant is then
// used through an EmergencyRequest only.
func isEmergencyGrant(s Store, g *protocol.GrantState) (*protocol.ServiceState, error) {
	svc, err := serviceOfOrg(s, g.RecipientSig)
	if err != nil || svc == nil || svc.OrgEnc != g.RecipientEnc {
		return nil, err
	}
	return svc, nil
}

// Service returns a registered service by name (not_found if absent).
func (s *Snapshot) Service(name string) (*protocol.ServiceState, error) {
	v, err := loadService(s.st, name)
	if err == nil && v == nil {
		err = protocol.Errorf(protocol.ErrNotFound, "service %q", name)
	}
	return v, err
}

// EmergencyService is the service a grant pre-authorises, or nil for an ordinary grant.
func (s *Snapshot) EmergencyService(g *protocol.GrantState) (*protocol.ServiceState, error) {
	return isEmergencyGrant(s.st, g)
}

// Services lists the registered services, by name.
func (s *Snapshot) Services() ([]*protocol.ServiceState, error) {
	var out []*protocol.ServiceState
	var ierr error
	err := s.st.Iterate([]byte{pService}, []byte{pService}, func(_, v []byte) bool {
		var svc protocol.ServiceState
		if ierr = svc.UnmarshalBinary(v); ierr != nil {
			return false
		}
		out = append(out, &svc)
		return true
	})
	if err == nil {
		err = ierr
	}
	return out, err
}
