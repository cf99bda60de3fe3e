package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newStreamRevokeCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "revoke GRANT",
		Short: "End a stream grant and rekey the stream: nothing appended later opens with its key fragments",
		Long: `revoke ends GRANT, as 'rrec revoke' does: from the block that commits it every node refuses
to re-encrypt any epoch under it and deletes its key fragment, so neither the rest of the
window nor entries appended later can be read with it. The grant's re-issues for other key
generations (same reader, window and purpose) end with it.

Then it rekeys the stream ('rrec stream rekey'): the epochs after the stream's last entry are
sealed under a new key, and every other live grant is re-issued for it, so that even nodes
that kept the revoked grant's fragments against the rules hold nothing that opens an entry
appended after the revoke. The rest of the last entry's epoch stays under the old key: its
capsule is committed. What was read cannot be taken back.`,
		Example: `  rrec stream revoke $GRANT`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withID(cmd, "grant", args[0], func(ctx context.Context, s *client.Session, g protocol.ID) error {
				return revokeStreamGrant(ctx, cmd.ErrOrStderr(), s, g)
			})
		},
	}
	cf.add(cmd)
	return cmd
}

func newStreamRekeyCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "rekey NAME",
		Short: "Seal your stream's later entries under a new key; re-issue its live grants for it",
		Long: `rekey starts a new key generation of your stream NAME: epochs after its last entry are sealed
under a new key. Every live grant is re-issued for the new key (same reader, window, purpose
and end), so readers go on reading; the old grants stay for the old epochs. A grant's key
fragments open only the epochs of its generation, so a rekey is a clean break: nodes that
kept fragments of an ended grant, against the rules, can open nothing appended after it.
'rrec stream revoke' rekeys by itself; rekey is for a break without a revoke, e.g. after a
node was found keeping fragments.`,
		Example: `  rrec stream rekey location`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			st, err := s.StreamNamed(ctx, args[0])
			if err != nil {
				return explainStream(err, "stream")
			}
			res, err := s.RekeyStream(ctx, st.ID())
			if res != nil {
				printRekey(cmd.ErrOrStderr(), res)
			}
			if err != nil {
				return explainStream(err, "stream")
			}
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

// revokedBy lists the revocations of res, none when res is nil.
func revokedBy(res *client.StreamRevokeResult) []*client.RevokeResult {
	if res == nil {
		return nil
	}
	return res.Revoked
}

// printRekey says what a rekey did: the epoch (and its start) the new key begins at, and the
// grants re-issued for it.
func printRekey(w io.Writer, r *client.RekeyResult) {
	issued := 0
	for _, x := range r.Reissued {
		if x.Result != nil {
			issued++
		}
	}
	fmt.Fprintf(w, "new key from epoch %d (%s), generation %d at height %d; %d grants re-issued\n",
		r.FirstEpoch, when(r.From), r.Generation, r.Height, issued)
	for _, x := range r.Reissued {
		if x.Result != nil {
			fmt.Fprintf(w, "  %s re-issued as %s\n", x.Old, x.Result.Grant)
		}
	}
}

// revokeStreamGrant revokes a stream grant and rekeys its stream, saying what it did: what
// 'rrec stream revoke' does, and 'rrec revoke' when given a stream grant.
func revokeStreamGrant(ctx context.Context, w io.Writer, s *client.Session, g protocol.ID) error {
	res, err := s.RevokeStreamGrant(ctx, g)
	for i, r := range revokedBy(res) {
		fmt.Fprintf(w, "revoked %s at height %d; %d of %d grant nodes confirmed destroying their fragment\n",
			res.Grants[i], r.Height, r.Destroyed, r.Nodes)
	}
	if res != nil && res.Rekey != nil {
		printRekey(w, res.Rekey)
	}
	if err != nil {
		return explainStream(err, "grant")
	}
	return nil
}
