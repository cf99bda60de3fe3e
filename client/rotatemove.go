package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// moveRecords moves every live record of the old identity (s) to the new one (ns), and
// erases, without moving, the sealed identity of its recovery setup and its key bundles:
// they hold the old seed or old records' keys, which open nothing the new identity seals.
func (s *Session) moveRecords(ctx context.Context, ns *Session, res *RotateResult, progress func(RotateStep)) error {
	skip := map[protocol.ID]bool{}
	switch setup, err := s.RecoverySetup(ctx, s.me); {
	case err == nil:
		skip[setup.Record] = true
		res.RecoveryErased = true
	case !errors.Is(err, ErrNotFound):
		return err
	}
	recs, err := s.Records(ctx)
	if err != nil {
		return err
	}
	var live []*protocol.Record
	for _, r := range recs {
		if r.Erased == nil {
			live = append(live, r)
		}
	}
	moved, err := ns.movedFrom(ctx)
	if err != nil {
		return err
	}
	for i, rec := range live {
		meta, err := s.DescribeRecord(ctx, rec, GetOptions{})
		if err != nil {
			return fmt.Errorf("record %s: %w", rec.ID, err)
		}
		if skip[rec.ID] || meta.MediaType == SealedIdentityType || meta.MediaType == KeyBundleType {
			if err := eraseOld(ctx, ns, rec.ID); err != nil {
				return err
			}
			res.Erased = append(res.Erased, rec.ID)
			progress(RotateStep{What: "erase", Done: i + 1, Total: len(live), Old: rec.ID, Detail: meta.Name})
			continue
		}
		m := MovedRecord{Old: rec.ID, Name: meta.Name}
		newID, ok := moved[rec.ID]
		if !ok {
			if newID, err = s.copyTo(ctx, ns, rec, meta); err != nil {
				return fmt.Errorf("moving record %s: %w", rec.ID, err)
			}
		}
		m.New = newID
		progress(RotateStep{What: "move", Done: i + 1, Total: len(live), Old: rec.ID, New: newID, Detail: meta.Name})
		if m.Grants, err = s.reissueGrants(ctx, ns, rec.ID, newID, progress); err != nil {
			return fmt.Errorf("granting record %s again: %w", newID, err)
		}
		// Last: once the old record is erased a resumed run no longer sees it, so every
		// grant must be made again before.
		if err := eraseOld(ctx, ns, rec.ID); err != nil {
			return err
		}
		progress(RotateStep{What: "erase-old", Done: i + 1, Total: len(live), Old: rec.ID, New: newID, Detail: meta.Name})
		res.Moved = append(res.Moved, m)
	}
	return nil
}

func eraseOld(ctx context.Context, ns *Session, id protocol.ID) error {
	if err := ns.Erase(ctx, id); err != nil && !errors.Is(err, protocol.ErrRecordErased) {
		return fmt.Errorf("erasing record %s: %w", id, err)
	}
	return nil
}

// movedFrom maps each old record an earlier run moved to its new record, by the label the
// new records' sealed metadata carries.
func (s *Session) movedFrom(ctx context.Context) (map[protocol.ID]protocol.ID, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	out := map[protocol.ID]protocol.ID{}
	for _, r := range recs {
		if r.Erased != nil {
			continue
		}
		meta, err := s.DescribeRecord(ctx, r, GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", r.ID, err)
		}
		var old protocol.ID
		if v, ok := meta.Labels[RotatedFromLabel]; ok && old.UnmarshalText([]byte(v)) == nil {
			out[old] = r.ID
		}
	}
	return out, nil
}

// copyTo opens rec with the old identity's key and puts its plaintext, sealed under the new
// identity's key for the new record, as ns; the plaintext goes through a pipe, never to a
// file. The metadata is the old record's with RotatedFromLabel added.
func (s *Session) copyTo(ctx context.Context, ns *Session, rec *protocol.Record, meta *envelope.Metadata) (protocol.ID, error) {
	m := *meta
	m.Labels = maps.Clone(meta.Labels)
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[RotatedFromLabel] = rec.ID.String()
	for attempt := 0; ; attempt++ {
		pr, pw := io.Pipe()
		got := make(chan error, 1)
		go func() {
			_, err := s.Get(ctx, rec.ID, pw, GetOptions{})
			pw.CloseWithError(err)
			got <- err
		}()
		id, err := ns.Put(ctx, pr, meta.Size, m)
		pr.CloseWithError(errors.New("client: the put stopped reading"))
		if gerr := <-got; err != nil && gerr != nil && !errors.Is(err, gerr) {
			err = fmt.Errorf("%w (reading the old record: %w)", err, gerr)
		}
		// The pipe cannot be read again: a sequence that moved means another try.
		if errors.Is(err, ErrSequenceMoved) && attempt < 3 {
			continue
		}
		return id, err
	}
}

// reissueGrants makes again, on newID, each grant of old that is live or not yet valid and
// that an earlier run did not make again: same recipient, purpose, end, start (if still
// ahead) and threshold. Grants made for a delegation are not: the delegation has ended.
func (s *Session) reissueGrants(ctx context.Context, ns *Session, old, newID protocol.ID, progress func(RotateStep)) ([]ReissuedGrant, error) {
	gs, now, err := allAt[*protocol.GrantState](ctx, s, "/grants/record/"+old.String(), grantPageKey)
	if err != nil {
		return nil, err
	}
	have, err := ns.Grants(ctx, newID)
	if err != nil {
		return nil, err
	}
	var out []ReissuedGrant
	for _, g := range gs {
		if g.Revoked || g.Expired || (g.NotAfter != 0 && now >= g.NotAfter) || delegationPurpose(g.Purpose) || madeAgain(have, g) {
			continue
		}
		to, err := Recipient(g)
		if err != nil {
			return out, fmt.Errorf("%w: grant %s: %v", ErrNodeAnswer, g.ID, err)
		}
		o := GrantOptions{Purpose: g.Purpose, Threshold: g.Threshold}
		if g.NotAfter != 0 {
			o.NotAfter = time.Unix(0, g.NotAfter)
		}
		if g.NotBefore > now {
			o.NotBefore = time.Unix(0, g.NotBefore)
		}
		gr, err := ns.Grant(ctx, newID, to, o)
		if err != nil {
			return out, fmt.Errorf("grant %s to %s: %w", g.ID, to, err)
		}
		r := ReissuedGrant{Old: g.ID, New: gr.Grant, Recipient: to.String()}
		out = append(out, r)
		progress(RotateStep{What: "grant", Old: g.ID, New: gr.Grant, Detail: r.Recipient})
	}
	return out, nil
}

// madeAgain reports whether a grant like g (recipient, purpose, end) is already on the new
// record and not revoked.
func madeAgain(have []*protocol.GrantState, g *protocol.GrantState) bool {
	for _, h := range have {
		if !h.Revoked && h.RecipientSig == g.RecipientSig && h.RecipientEnc == g.RecipientEnc &&
			h.Purpose == g.Purpose && h.NotAfter == g.NotAfter {
			return true
		}
	}
	return false
}
