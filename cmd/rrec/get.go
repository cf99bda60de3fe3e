package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newGetCmd() *cobra.Command {
	var (
		cf      clientFlags
		out     string
		purpose purposeFlags
	)
	cmd := &cobra.Command{
		Use:   "get RECORD -o OUT [--purpose CODE | --purpose-text TEXT]",
		Short: "Write the plaintext of a record you own or that was shared with you",
		Long: `get fetches RECORD's ciphertext, checks every block against its content address, and
writes the plaintext to OUT ("-": standard output). The owner opens it with their own key.
A recipient first commits an access request under their grant (it shows in the audit log),
then gathers re-encryptions from a threshold of nodes.

A refused get writes nothing, exits non-zero and says why: the grant was revoked, has
expired, is not valid yet, the record is not shared with you, or it was erased.

A recipient says why it reads, recorded with the access request in the owner's audit log:
a PurposeOfUse code with --purpose (the code or its name), or free text with --purpose-text.

` + purposeHelp(),
		Example: `  rrec get $REC -o labs.pdf
  rrec get $REC -o - --purpose TREAT | less
  rrec get $REC -o scan.dcm --purpose-text "a second opinion"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := parseID("record", args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("get needs -o OUT (a file to write, or - for standard output)")
			}
			why, err := purpose.value()
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			bar := newPhaseBar(cmd.ErrOrStderr())
			defer bar.done()
			get := func(w io.Writer) error {
				_, err := s.Get(ctx, rec, w, client.GetOptions{Purpose: why}, client.WithProgress(bar.update))
				bar.done()
				return explain(err, "record")
			}
			if out == "-" {
				return get(cmd.OutOrStdout())
			}
			return writeAtomically(out, get)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the plaintext to `OUT` (- for standard output)")
	purpose.add(cmd, "why you read it, recorded with the access request")
	return cmd
}

// writeAtomically has fill write a temporary file beside path and renames it into place
// only if fill succeeds, so that a refused or interrupted get leaves no partial plaintext.
func writeAtomically(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// sharedEntry is one line of 'rrec ls --shared --json'.
type sharedEntry struct {
	Grant  *protocol.GrantState `json:"grant"`
	Record *protocol.Record     `json:"record,omitempty"`
	Status string               `json:"status"`
}

func listShared(ctx context.Context, s *client.Session, w, stderr io.Writer, jsonOut bool) error {
	shared, err := s.Shared(ctx)
	if err != nil {
		return explain(err, "grant")
	}
	entries := make([]sharedEntry, len(shared))
	for i, sh := range shared {
		entries[i] = sharedEntry{Grant: sh.Grant, Record: sh.Record, Status: sharedStatus(sh.Err)}
	}
	if jsonOut {
		return writeJSON(w, entries)
	}
	book := namesBook(stderr)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tRECORD\tOWNER\tPURPOSE\tSTATUS\tHOLDERS")
	for _, e := range entries {
		purpose, hold := purposeName(e.Grant.Purpose), "-"
		if e.Record != nil {
			hold = holders(e.Record)
		}
		owner := person(book, e.Grant.Owner, client.OwnerString(e.Grant))
		if e.Grant.By != nil { // made by the owner's caregiver
			owner += ", by " + person(book, *e.Grant.By, e.Grant.By.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Grant.ID, e.Grant.Record, owner, purpose,
			e.Status+fragments(e.Grant, e.Status != "live" && e.Status != "not yet valid"), hold)
	}
	return tw.Flush()
}

func sharedStatus(err error) string {
	switch {
	case err == nil:
		return "live"
	case errors.Is(err, client.ErrRevoked):
		return "revoked"
	case errors.Is(err, client.ErrExpired):
		return "expired"
	case errors.Is(err, client.ErrNotYetValid):
		return "not yet valid"
	case errors.Is(err, client.ErrErased):
		return "erased"
	}
	return "unusable: " + err.Error()
}

// fragments says, for a grant that ended, how many of its nodes confirmed destroying their
// fragment.
func fragments(g *protocol.GrantState, ended bool) string {
	switch {
	case ended:
		return fmt.Sprintf(" (%d/%d destroyed)", len(g.Destroyed), len(g.Nodes))
	case len(g.Destroyed) > 0: // nodes that lost their fragment (their data was wiped)
		return fmt.Sprintf(" (%d/%d holding)", len(g.Nodes)-len(g.Destroyed), len(g.Nodes))
	}
	return ""
}
