package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// putKeyBundle puts a key bundle of delegation with the delegating keys of records.
func (s *Session) putKeyBundle(ctx context.Context, delegation protocol.ID, records []*protocol.Record) (protocol.ID, error) {
	kb := &keyBundle{delegation: delegation, keys: make(map[protocol.ID]*umbral.SecretKey, len(records))}
	for _, r := range records {
		k, err := s.ownKey(r)
		if err != nil {
			return protocol.ID{}, err
		}
		kb.keys[r.ID] = k
	}
	plain, err := kb.marshal()
	if err != nil {
		return protocol.ID{}, err
	}
	defer clear(plain)
	id, err := s.Put(ctx, bytes.NewReader(plain), int64(len(plain)),
		envelope.Metadata{Name: "keys of delegation " + delegation.String(), MediaType: KeyBundleType, Created: time.Now()})
	if err != nil {
		return protocol.ID{}, fmt.Errorf("putting the key bundle: %w", err)
	}
	return id, nil
}

// joinDelegations brings a record just put into the scope of this identity's delegations
// that have not ended, as Delegate would have had the record existed then: with the grant
// right a key bundle of its key alone, with the read right a grant of the record, each
// granted to the caregiver until the delegation ends. A caregiver looks through every live
// bundle of its delegation (bundledKey), so one bundle per record is enough.
func (s *Session) joinDelegations(ctx context.Context, record protocol.ID) error {
	ds, now, err := allAt[*protocol.DelegationState](ctx, s, "/delegations/owner/"+s.me.String(), nil)
	if err != nil {
		return classify(err)
	}
	var errs []error
	for _, d := range ds {
		if d.Ended || now >= d.NotAfter || d.Rights&(protocol.RightGrant|protocol.RightRead) == 0 {
			continue
		}
		if err := s.joinDelegation(ctx, d, record); err != nil {
			errs = append(errs, fmt.Errorf("record %s committed, but not brought into delegation %s: %w", record, d.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Session) joinDelegation(ctx context.Context, d *protocol.DelegationState, record protocol.ID) error {
	caregiver, err := publicIdentity(d.Caregiver, d.CaregiverEnc)
	if err != nil {
		return err
	}
	o := GrantOptions{NotAfter: time.Unix(0, d.NotAfter)}
	if d.NotBefore != 0 {
		o.NotBefore = time.Unix(0, d.NotBefore)
	}
	if d.Rights&protocol.RightGrant != 0 {
		rec, err := s.Record(ctx, record)
		if err != nil {
			return err
		}
		bundle, err := s.putKeyBundle(ctx, d.ID, []*protocol.Record{rec})
		if err != nil {
			return err
		}
		o.Purpose = bundlePurpose + d.ID.String()
		if _, err := s.Grant(ctx, bundle, caregiver, o); err != nil {
			return fmt.Errorf("granting its key bundle: %w", err)
		}
	}
	if d.Rights&protocol.RightRead != 0 {
		o.Purpose = readPurpose + d.ID.String()
		if _, err := s.Grant(ctx, record, caregiver, o); err != nil {
			return fmt.Errorf("granting it: %w", err)
		}
	}
	return nil
}
