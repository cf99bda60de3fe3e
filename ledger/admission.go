package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// Admission and allowances (SPEC.md §2, protocol/SPEC.md §13): who may send transactions,
// and how much each account keeps in the ledger.

// MaxExpiriesPerBlock bounds the grants one block expires; the rest wait for the next
// blocks, in not-after order. A grant past its not-after is refused by time alone
// (GrantState.LiveAt), so the delay only postpones the bookkeeping: the audit entry, the
// owed destruction reports and the vault deletion.
const MaxExpiriesPerBlock = 1000

var (
	keyRules    = []byte{pRules, 'a'}
	keySelfPool = []byte{pRules, 'u'} // u64 records ‖ u64 bytes ‖ u64 grants kept by the self tier
)

// rules reads the network's admission rules (written at genesis); nil for an open network,
// whose genesis has none: every account may transact, and none has an allowance.
func rules(s Store) (*protocol.AdmissionRules, error) {
	var r protocol.AdmissionRules
	ok, err := getValue(s, keyRules, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// account reads an admitted account; nil if the account is not admitted.
func account(s Store, pk protocol.PubKey) (*protocol.Account, error) {
	var a protocol.Account
	ok, err := getValue(s, key(pAdmitted, pk[:]), &a)
	if err != nil || !ok {
		return nil, err
	}
	return &a, nil
}

// admitted checks that tx's signer may send it: a registry node (its reports, its operator's
// Admit), an Enrol (it carries its own proof), or an admitted account.
func admitted(s Store, bc BlockContext, tx *protocol.Tx) error {
	if bc.Nodes[tx.Signer] {
		return nil
	}
	if _, ok := tx.Body.(*protocol.Enrol); ok {
		return nil
	}
	// A registered clinician was vetted by the operator who registered its service: it may
	// ask for an emergency read without an account of its own.
	if _, ok := tx.Body.(*protocol.EmergencyRequest); ok {
		if svc, err := serviceOfClinician(s, tx.Signer); err != nil || svc != nil {
			return err
		}
	}
	if r, err := rules(s); err != nil || r == nil {
		return err
	}
	a, err := account(s, tx.Signer)
	if err != nil {
		return err
	}
	if a == nil {
		return protocol.Errorf(protocol.ErrNotAdmitted, "account %s: enrol it, or ask a node's operator to admit it", tx.Signer)
	}
	return nil
}

// use changes an account's usage by delta, and the self tier's pool with it (growth is
// checked against the allowances; shrinking never fails). Accounts that are not admitted
// (registry nodes) keep no usage.
func use(o *overlay, pk protocol.PubKey, delta func(u *protocol.Allowance)) error {
	// A retired key's records and grants are charged to the account that succeeded it.
	pk, err := current(o, pk)
	if err != nil {
		return err
	}
	a, err := account(o, pk)
	if err != nil || a == nil {
		return err
	}
	before := a.Usage
	delta(&a.Usage)
	r, err := rules(o)
	if err != nil || r == nil {
		return err
	}
	grew := a.Usage.Records > before.Records || a.Usage.Bytes > before.Bytes || a.Usage.Grants > before.Grants
	if allow := r.Of(a.Tier); grew && !allow.Fits(a.Usage) {
		return protocol.Errorf(protocol.ErrQuota, "account %s would keep %d records, %d bytes, %d live grants; its %s allowance is %d, %d, %d",
			pk, a.Usage.Records, a.Usage.Bytes, a.Usage.Grants, protocol.TierName(a.Tier), allow.Records, allow.Bytes, allow.Grants)
	}
	if a.Tier == protocol.TierSelf {
		pool, err := selfPool(o)
		if err != nil {
			return err
		}
		moveUsage(&pool, before, a.Usage)
		if grew && !r.SelfPool.Fits(pool) {
			return protocol.Errorf(protocol.ErrQuota, "the network's self-service accounts together keep all the pool allows (%d records, %d bytes, %d live grants): ask a node's operator to admit this account",
				r.SelfPool.Records, r.SelfPool.Bytes, r.SelfPool.Grants)
		}
		o.set(keySelfPool, encodeUsage(pool))
	}
	setValue(o, key(pAdmitted, pk[:]), a)
	return nil
}

// moveUsage changes a total from including from to including to.
func moveUsage(total *protocol.Allowance, from, to protocol.Allowance) {
	less(&total.Records, from.Records)
	less(&total.Bytes, from.Bytes)
	less(&total.Grants, from.Grants)
	total.Records += to.Records
	total.Bytes += to.Bytes
	total.Grants += to.Grants
}

func selfPool(s Store) (protocol.Allowance, error) {
	b, err := s.Get(keySelfPool)
	if err != nil || b == nil {
		return protocol.Allowance{}, err
	}
	if len(b) != 24 {
		return protocol.Allowance{}, fmt.Errorf("ledger: corrupt self pool (%d bytes)", len(b))
	}
	return protocol.Allowance{Records: binary.BigEndian.Uint64(b), Bytes: binary.BigEndian.Uint64(b[8:]),
		Grants: binary.BigEndian.Uint64(b[16:])}, nil
}

func encodeUsage(u protocol.Allowance) []byte {
	return append(append(u64b(u.Records), u64b(u.Bytes)...), u64b(u.Grants)...)
}

// less subtracts without wrapping: usage is never below zero.
func less(v *uint64, d uint64) { *v -= min(*v, d) }

func applyAdmit(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Admit, res *applied) error {
	if !bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrUnauthorized, "only a registry node's operator admits accounts")
	}
	by := tx.Signer
	for _, pk := range b.Accounts {
		if bc.Nodes[pk] {
			return protocol.Errorf(protocol.ErrInvalid, "%s is a registry node's key, not an account", pk)
		}
		a, err := account(o, pk)
		if err != nil {
			return err
		}
		if a == nil {
			a = &protocol.Account{Key: pk, Height: bc.Height}
		} else if a.Tier != b.Tier { // its usage moves into or out of the self tier's pool
			pool, err := selfPool(o)
			if err != nil {
				return err
			}
			if b.Tier == protocol.TierSelf {
				moveUsage(&pool, protocol.Allowance{}, a.Usage)
			} else {
				moveUsage(&pool, a.Usage, protocol.Allowance{})
			}
			o.set(keySelfPool, encodeUsage(pool))
		}
		a.Tier, a.By = b.Tier, &by
		setValue(o, key(pAdmitted, pk[:]), a)
	}
	return nil
}

func applyEnrol(o *overlay, bc BlockContext, tx *protocol.Tx, b *protocol.Enrol, res *applied) error {
	r, err := rules(o)
	if err != nil {
		return err
	}
	if r == nil {
		return protocol.Errorf(protocol.ErrInvalid, "this network is open: accounts need no enrolment")
	}
	if r.EnrolBits == 0 {
		return protocol.Errorf(protocol.ErrUnauthorized, "this network admits accounts through its nodes' operators only")
	}
	if bc.Nodes[tx.Signer] {
		return protocol.Errorf(protocol.ErrInvalid, "%s is a registry node's key, not an account", tx.Signer)
	}
	if a, err := account(o, tx.Signer); err != nil {
		return err
	} else if a != nil {
		return protocol.Errorf(protocol.ErrAlreadyExists, "account %s is admitted", tx.Signer)
	}
	if got := protocol.LeadingZeros(protocol.EnrolWork(bc.ChainID, tx.Signer, b.Nonce)); got < int(r.EnrolBits) {
		return protocol.Errorf(protocol.ErrInvalid, "enrolment work has %d leading zero bits, this network asks %d", got, r.EnrolBits)
	}
	setValue(o, key(pAdmitted, tx.Signer[:]), &protocol.Account{Key: tx.Signer, Tier: protocol.TierSelf, Height: bc.Height})
	return nil
}
