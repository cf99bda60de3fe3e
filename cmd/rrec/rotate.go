package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newRotateCmd() *cobra.Command {
	var (
		cf      clientFlags
		to      string
		resume  bool
		streams []string
	)
	cmd := &cobra.Command{
		Use:   "rotate --to NEW.key [-i OLD.key] [--stream NAME]...",
		Short: "Move to a new identity: retire this key and move every record, stream and grant to NEW.key",
		Long: `rotate moves you to a new identity after a recovery or a suspected leak. NEW.key is a
fresh identity file ('rrec keygen -o NEW.key') that has never been used on the network.

First, one transaction retires this identity's key: from the next block on the ledger refuses
everything it signs, and every node refuses its uploads, deposits and re-encryption requests.
A leaked key is cut off at once. Then, as the new identity, rotate moves your records: each
live record is opened with the old key, sealed again under the new one and put as a new
record (labelled with the old record's id), each live grant of it is made again on the new
record (same recipient, purpose and end), and the old record is erased (its grants end; the
nodes delete its ciphertext). Your caregivers' delegations are ended. Recipients read the new
record ids ('rrec ls --shared' shows them).

Your streams move the same way: each live stream is read with the old key, its entries are
appended to a new stream of the new identity (same epoch and entry times), each live stream
grant is made again (same recipient, window, purpose and end), and the old stream is erased.
The ledger keeps only a keyed hash of a stream's name, so name your streams with --stream
NAME (repeatable): a stream you name keeps its name; any other is moved as 'moved OLD-ID'.

Running rotate again after an interruption finishes the job and does nothing twice (--resume
says so explicitly); run when everything has moved, it changes nothing.

What rotation cannot take back (docs/threat-model.md, "Rotation"): what recipients already
read or copied; copies of the old ciphertext kept outside the nodes, which the old key still
opens; records others shared with the old identity — rotate lists their owners: ask them to
grant the new identity again; the history in the audit log. Your recovery setup protected the
old identity: its sealed copy is erased, and you must set up recovery again for the new one
('rrec recovery setup -i NEW.key'). Whoever holds the old key could rotate it first: then
rotate is refused, naming that other identity.`,
		Example: `  rrec keygen -o ~/.rrec/new.key
  rrec rotate -i ~/.rrec/patient.key --to ~/.rrec/new.key
  rrec rotate -i ~/.rrec/patient.key --to ~/.rrec/new.key --stream location --stream "heart rate"
  rrec rotate -i ~/.rrec/patient.key --to ~/.rrec/new.key --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("rotate needs --to NEW.key: a fresh identity file from 'rrec keygen -o NEW.key'")
			}
			next, err := loadIdentity(to)
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			book := namesBook(cmd.ErrOrStderr())
			res, err := s.Rotate(ctx, next, client.RotateOptions{StreamNames: streams,
				Progress: func(st client.RotateStep) { rotateProgress(cmd.ErrOrStderr(), book, st) }})
			if err != nil {
				return explainRotate(err, to, res != nil)
			}
			return printRotated(cmd.OutOrStdout(), book, res, to)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the new identity `FILE` (from 'rrec keygen'; asked for its passphrase like -i)")
	cmd.Flags().BoolVar(&resume, "resume", false, "finish an interrupted rotation (running rotate again does the same)")
	cmd.Flags().StringArrayVar(&streams, "stream", nil, "a `NAME` you gave one of your streams: its new stream keeps it (repeatable; give the same when resuming)")
	return cmd
}

func rotateProgress(w io.Writer, book *contacts.Book, st client.RotateStep) {
	switch st.What {
	case "retire":
		fmt.Fprintf(w, "rrec: the old key is retired in favour of %s\n", st.Detail)
	case "end-delegation":
		fmt.Fprintf(w, "rrec: ended delegation %s\n", st.Old)
	case "erase":
		fmt.Fprintf(w, "rrec: [%d/%d] erased %s (%s), not moved\n", st.Done, st.Total, st.Old.String()[:12], st.Detail)
	case "move":
		fmt.Fprintf(w, "rrec: [%d/%d] moved %s → %s (%s)\n", st.Done, st.Total, st.Old.String()[:12], st.New.String()[:12], st.Detail)
	case "grant":
		fmt.Fprintf(w, "rrec:         granted again to %s\n", personString(book, st.Detail))
	case "erase-old":
		fmt.Fprintf(w, "rrec:         erased the old record %s\n", st.Old.String()[:12])
	case "move-stream":
		fmt.Fprintf(w, "rrec: [%d/%d] moved stream %s → %s (%s)\n", st.Done, st.Total, st.Old.String()[:12], st.New.String()[:12], st.Detail)
	case "stream-grant":
		fmt.Fprintf(w, "rrec:         granted the stream again to %s\n", personString(book, st.Detail))
	case "erase-old-stream":
		fmt.Fprintf(w, "rrec:         erased the old stream %s\n", st.Old.String()[:12])
	}
}

// personString shows an rrec1… identity by its contact name when there is one.
func personString(book *contacts.Book, ident string) string {
	if p, err := identity.ParsePublic(ident); err == nil {
		return person(book, protocol.PubKeyOf(p.Signing), ident)
	}
	return ident
}

func printRotated(w io.Writer, book *contacts.Book, res *client.RotateResult, to string) error {
	grants := 0
	for _, m := range res.Moved {
		grants += len(m.Grants)
	}
	fmt.Fprintf(w, "new identity: %s (%s)\n", res.Successor, to)
	fmt.Fprintf(w, "records moved: %d\n", len(res.Moved))
	for _, m := range res.Moved {
		fmt.Fprintf(w, "  %s → %s  %s\n", m.Old, m.New, m.Name)
	}
	fmt.Fprintf(w, "grants re-issued: %d\n", grants)
	if len(res.Streams) > 0 {
		fmt.Fprintf(w, "streams moved: %d\n", len(res.Streams))
		for _, m := range res.Streams {
			name := m.Name
			if name == "" {
				name = "(named by an earlier run)"
			}
			fmt.Fprintf(w, "  %s → %s  %s  %d entries, %d grants re-issued\n", m.Old, m.New, name, m.Entries, len(m.Grants))
		}
	}
	if len(res.Erased) > 0 {
		fmt.Fprintf(w, "records erased without moving (sealed identity, key bundles): %d\n", len(res.Erased))
	}
	if len(res.DelegationsEnded) > 0 {
		fmt.Fprintf(w, "delegations ended: %d (delegate again from the new identity)\n", len(res.DelegationsEnded))
	}
	if len(res.SharedWithOld) > 0 {
		fmt.Fprintf(w, "owners to ask for new grants (they shared records or streams with the old identity):\n")
		for _, o := range res.SharedWithOld {
			line := fmt.Sprintf("  %s  %d records", personString(book, o.Owner), len(o.Records))
			if len(o.Streams) > 0 {
				line += fmt.Sprintf(", %d streams", len(o.Streams))
			}
			fmt.Fprintln(w, line)
		}
	}
	if res.RecoveryErased {
		fmt.Fprintf(w, "set up recovery again: 'rrec recovery setup -i %s --guardians …'\n", to)
	}
	if res.Height == 0 && len(res.Moved) == 0 && len(res.Erased) == 0 && len(res.Streams) == 0 {
		fmt.Fprintln(w, "nothing left to move: the rotation was already complete")
	}
	return nil
}

func explainRotate(err error, to string, retired bool) error {
	switch {
	case errors.Is(err, client.ErrRotatedElsewhere):
		return fmt.Errorf("refused: %w. Whoever rotated it holds the old key; your records now answer to that identity. Nothing was sent", err)
	case errors.Is(err, client.ErrSuccessorInUse):
		return fmt.Errorf("refused: %s is not a fresh identity (%w). Make one with 'rrec keygen -o NEW.key'; nothing was sent", to, err)
	case retired:
		return fmt.Errorf("the old key is retired, but moving your records and streams stopped: %w. Run the same 'rrec rotate' again to finish", explain(err, "record"))
	}
	return explain(err, "record")
}

// retiredNote says, for account and status, that the identity's key is retired and which
// identity succeeded it; "" when it is not retired.
func retiredNote(ctx context.Context, s *client.Session) (string, error) {
	t, err := s.Retirement(ctx)
	if err != nil || t == nil {
		return "", err
	}
	return fmt.Sprintf("retired at height %d, succeeded by %s: this key can sign nothing more (use the new identity)",
		t.Height, client.SuccessorString(t)), nil
}
