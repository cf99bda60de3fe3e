package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newDelegateCmd() *cobra.Command {
	var (
		cf       clientFlags
		to       string
		rights   string
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "delegate --to CAREGIVER --rights grant,revoke,read --for DURATION | delegate end ID",
		Short: "Let a caregiver grant, revoke or read your records for a time; print the delegation id",
		Long: `delegate lets CAREGIVER (a parent, a carer) manage your records for DURATION, with the
rights you choose; the ledger accepts the caregiver's transactions only while the delegation
is live, and each is in the record's audit log as the caregiver's for you. You end it at any
time with 'rrec delegate end ID'; the caregiver may step down the same way.

  grant    the caregiver may grant your records to others ('rrec grant --for-owner YOU').
           To make a grant it needs each record's key: delegate puts a key bundle — a
           record holding the keys of your records, never the one holding your identity
           for recovery — and grants it to the caregiver. With those keys the caregiver
           can also open the records itself, unaudited: give this right only to someone
           you would let read everything.
  revoke   the caregiver may revoke grants of your records ('rrec revoke GRANT').
  read     the caregiver gets an ordinary grant of each of your records, each read audited.

The grants made for the delegation end with it, and 'delegate end' revokes them. Records
you put while it lasts join it ('rrec put' hands the caregiver their key or a grant). What
a caregiver already
read or received cannot be taken back (docs/threat-model.md, "Caregivers").`,
		Example: `  rrec delegate --to "Jo Carer" --rights grant,revoke --for 720h
  rrec delegate --to rrec1q... --rights read --for 72h
  rrec delegations
  rrec delegate end $DELEGATION`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" || rights == "" || duration <= 0 {
				return errors.New("delegate needs --to CAREGIVER, --rights (some of grant,revoke,read) and --for DURATION (e.g. 720h)")
			}
			r, err := protocol.ParseRights(rights)
			if err != nil {
				return err
			}
			caregiver, err := resolvePerson(to, "--to")
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			res, err := s.Delegate(ctx, caregiver, r, client.DelegateOptions{Duration: duration})
			if res != nil {
				fmt.Fprintln(cmd.OutOrStdout(), res.Delegation)
			}
			if err != nil {
				if res != nil {
					return fmt.Errorf("delegation %s is committed, but handing over to the caregiver failed: %w ('rrec delegate end %s' undoes it)", res.Delegation, explain(err, "record"), res.Delegation)
				}
				return explain(err, "record")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "delegated %s to %s until %s (height %d)", protocol.RightsString(r), to, when(time.Now().Add(duration).UnixNano()), res.Height)
			if res.Bundle != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "; the keys of %d records in key bundle %s", res.Scope, res.Bundle)
			}
			if r&protocol.RightRead != 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "; %d records granted to read", res.Scope)
			}
			fmt.Fprintln(cmd.ErrOrStderr())
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the caregiver's `PUBLIC_IDENTITY` (rrec1...), or a name from 'rrec contacts'")
	cmd.Flags().StringVar(&rights, "rights", "", "what the caregiver may do: `LIST` of grant, revoke, read")
	cmd.Flags().DurationVar(&duration, "for", 0, "end the delegation after `DURATION` (e.g. 720h)")
	cmd.AddCommand(newDelegateEndCmd())
	return cmd
}

func newDelegateEndCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "end ID",
		Short: "End a delegation: yours, or one to you (stepping down)",
		Long: `end ends delegation ID from its block on: the ledger refuses the caregiver's grants and
revokes under it. Run by the owner, it also revokes the key bundle and read grants the
delegation made (also when the delegation had ended already). Grants the caregiver made for
you stay: they are yours, listed with your grants; revoke those you no longer want.`,
		Example: `  rrec delegate end $DELEGATION`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id protocol.ID
			if err := id.UnmarshalText([]byte(strings.TrimSpace(args[0]))); err != nil {
				return fmt.Errorf("delegation %q: want the 64 hex digits 'rrec delegate' printed", args[0])
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			res, err := s.EndDelegation(ctx, id)
			if err != nil {
				return explainDelegation(err, "delegation")
			}
			if res.Height > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "ended delegation %s at height %d", id, res.Height)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "delegation %s had ended already", id)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "; revoked %d grant(s) made for it\n", len(res.Revoked))
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

func newDelegationsCmd() *cobra.Command {
	var (
		cf      clientFlags
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "delegations [--json]",
		Short: "List the delegations you made, and those made to you",
		Long: `delegations lists, oldest first, the delegations you made to caregivers and those owners
made to you: id, owner, caregiver, rights, until when, and whether it is live, ended (by
whom) or past its end.`,
		Example: `  rrec delegations
  rrec delegations --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			mine, err := s.Delegations(ctx)
			if err != nil {
				return explain(err, "delegation")
			}
			toMe, err := s.CaregiverOf(ctx)
			if err != nil {
				return explain(err, "delegation")
			}
			all := append(mine, toMe...)
			if jsonOut {
				if all == nil {
					all = []*protocol.DelegationState{}
				}
				return writeJSON(cmd.OutOrStdout(), all)
			}
			st, err := s.Status(ctx)
			if err != nil {
				return explain(err, "delegation")
			}
			printDelegations(cmd.OutOrStdout(), namesBook(cmd.ErrOrStderr()), protocol.PubKeyOf(s.Identity().Signing), all, st.Time)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printDelegations(w io.Writer, book *contacts.Book, me protocol.PubKey, ds []*protocol.DelegationState, now int64) {
	name := func(k protocol.PubKey, full string) string {
		if k == me {
			return "you"
		}
		return person(book, k, full)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELEGATION\tOWNER\tCAREGIVER\tRIGHTS\tUNTIL\tSTATUS")
	for _, d := range ds {
		status := "live"
		switch err := d.LiveAt(now); {
		case d.Ended:
			status = fmt.Sprintf("ended by %s at height %d", name(*d.EndedBy, d.EndedBy.String()), d.EndedHeight)
		case err != nil:
			status = sharedStatus(client.Classify(err))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, name(d.Owner, d.Owner.String()),
			name(d.Caregiver, publicString(d.Caregiver, d.CaregiverEnc)), protocol.RightsString(d.Rights), when(d.NotAfter), status)
	}
	tw.Flush()
}

// explainDelegation says what a refusal of a caregiver's step means.
func explainDelegation(err error, what string) error {
	switch {
	case errors.Is(err, client.ErrNoDelegation) && errors.Is(err, client.ErrRevoked),
		!errors.Is(err, client.ErrNoDelegation) && errors.Is(err, protocol.ErrGrantRevoked) && strings.Contains(err.Error(), "delegation"):
		return fmt.Errorf("refused: the owner's delegation to you has ended; you may no longer act for them (%w)", err)
	case errors.Is(err, client.ErrNoDelegation) && errors.Is(err, client.ErrExpired):
		return fmt.Errorf("refused: the owner's delegation to you is past its end; ask them to delegate again (%w)", err)
	case errors.Is(err, client.ErrNoDelegation):
		return fmt.Errorf("refused: you hold no live delegation of this owner with that right (%w)", err)
	}
	return explain(err, what)
}
