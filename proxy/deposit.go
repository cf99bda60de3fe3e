package proxy

import (
	"errors"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// depositLive is the deposit rule on liveness: a grant that is not valid
// yet may take its fragments already; a revoked or expired one may not.
func depositLive(g *protocol.GrantState, t int64) error {
	if err := g.LiveAt(t); err != nil && !errors.Is(err, protocol.ErrNotYetValid) {
		return grantRefusal(err)
	}
	return nil
}

// Deposit accepts the key fragment for grant sealed in d, if the grant is
// committed and live, names this node, matches the commitment and verifies;
// it returns the node's signed receipt.
func (s *Service) Deposit(grant protocol.ID, d *protocol.Deposit) (*protocol.DepositReceipt, error) {
	return s.deposit("", grant, d)
}

// deposit is Deposit for a request from src. Everything that needs no curve arithmetic
// comes first, so junk naming a grant that is unknown, ended, elsewhere or already
// deposited is refused without taking a curve slot.
func (s *Service) deposit(src string, grant protocol.ID, d *protocol.Deposit) (*protocol.DepositReceipt, error) {
	if len(d.Ciphertext) > protocol.MaxDepositCiphertext {
		return nil, protocol.Errorf(protocol.ErrMalformed, "deposit ciphertext longer than %d bytes", protocol.MaxDepositCiphertext)
	}
	s.catchUp(d.Height)
	t, err := s.lookupDeposit(grant)
	if err != nil {
		return nil, err
	}
	release, err := s.slot(src, true)
	if err != nil {
		return nil, err
	}
	defer release()
	kfb, err := protocol.OpenDeposit(s.cfg.ProxyKey, t.chainID, grant, s.self, d)
	if err != nil {
		return nil, err
	}
	defer clear(kfb)
	if protocol.Commitment(kfb) != t.node.Commitment {
		return nil, protocol.ErrWrongCommitment
	}
	vkf, err := verifyKFrag(kfb, t.grant, t.record)
	if err != nil {
		return nil, err
	}
	var height int64
	err = s.cfg.Vault.Put(grant, vkf, func() error {
		// Under the vault lock: a revocation committed since the first look must win.
		now, err := s.snapshot()
		if err != nil {
			return err
		}
		defer now.Release()
		g, err := now.Grant(grant)
		if err != nil {
			return grantRefusal(err)
		}
		height = now.Height
		return depositLive(g, now.Time)
	})
	switch {
	case errors.Is(err, ErrHeld):
		return nil, protocol.ErrAlreadyExists
	case err != nil && errors.As(err, new(*protocol.Error)):
		return nil, err
	case err != nil:
		s.log.Error("proxy: storing a fragment", "grant", grant.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	s.log.Info("proxy: fragment deposited", "grant", grant.String(), "height", height)
	r := &protocol.DepositReceipt{Node: s.self, Grant: grant, Commitment: t.node.Commitment, Height: height}
	if err := r.Sign(t.chainID, s.signer); err != nil {
		return nil, protocol.ErrInternal
	}
	return r, nil
}

// depositFacts are what a deposit is checked against, read from one committed snapshot.
type depositFacts struct {
	chainID string
	grant   *protocol.GrantState
	record  *protocol.Record
	node    protocol.GrantNode
}

// lookupDeposit checks, against committed state, that grant may take this node's fragment:
// it is committed and not ended, names this node, and the vault holds none for it yet.
func (s *Service) lookupDeposit(grant protocol.ID) (*depositFacts, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Release()
	g, err := snap.Grant(grant)
	if err != nil {
		return nil, grantRefusal(err)
	}
	if err := depositLive(g, snap.Time); err != nil {
		return nil, err
	}
	// The fragments are signed by the grant's fragment signer: a retired key's are refused.
	if err := s.notRetired(snap, g.FragmentSigner()); err != nil {
		return nil, err
	}
	gn, ok := s.grantNode(g)
	if !ok {
		return nil, protocol.ErrNotGrantNode
	}
	if s.cfg.Vault.Has(grant) {
		return nil, protocol.ErrAlreadyExists
	}
	// A node that told the ledger it holds no fragment of the grant keeps none: what the
	// owner and recipient see stays true.
	if none, err := snap.HoldsNone(grant, s.self); err != nil {
		return nil, err
	} else if none {
		return nil, protocol.Errorf(protocol.ErrInvalid, "this node reported on the ledger that it holds no fragment of grant %s", grant)
	}
	rec, err := s.grantedKey(snap, g)
	if err != nil {
		s.log.Error("proxy: grant without record", "grant", grant.String(), "err", err)
		return nil, protocol.ErrInternal
	}
	return &depositFacts{chainID: snap.ChainID, grant: g, record: rec, node: gn}, nil
}

func verifyKFrag(b []byte, g *protocol.GrantState, rec *protocol.Record) (*umbral.VerifiedKeyFrag, error) {
	var kf umbral.KeyFrag
	if err := kf.UnmarshalBinary(b); err != nil {
		return nil, protocol.Errorf(protocol.ErrInvalidKFrag, "key fragment does not decode")
	}
	// A caregiver that made the grant for the owner signed its fragments (protocol/SPEC.md §16).
	signer := g.FragmentSigner()
	owner, err1 := umbral.PublicKeyFromBytes(signer[:])
	deleg, err2 := umbral.PublicKeyFromBytes(rec.DelegatingKey[:])
	recv, err3 := umbral.PublicKeyFromBytes(g.RecipientEnc[:])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, protocol.ErrInternal // committed keys were validated by the ledger
	}
	vkf, err := kf.Verify(owner, deleg, recv)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrInvalidKFrag, "key fragment does not verify for the grant's signer, record and recipient")
	}
	return vkf, nil
}
