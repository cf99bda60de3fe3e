package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newRecoveryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recovery",
		Short: "Let guardians restore your identity on a new device, and watch over recoveries",
		Long: `recovery lets people you trust — your guardians: family, your clinic — restore your
identity on a new device if you lose this one, so that your records are not lost with it.
Any THRESHOLD of them together can, and no fewer; and only through a process on the ledger
that you see ('rrec recovery status') and can cancel with your current identity file during
a waiting period ('rrec recovery cancel').

  1. you:          rrec recovery setup --guardians Ann,Bob,Carol --threshold 2
  2. new device:   rrec keygen -o new-device.key
                   rrec recovery start -i new-device.key --owner rrec1...   (prints PROCESS)
  3. guardians:    rrec recovery approve --owner YOU PROCESS
  4. new device:   rrec recovery finish -i new-device.key PROCESS --wait 72h -o restored.key

The restored identity is yours — the same keys — so treat a recovery you did not ask for as
someone else getting your records: cancel it.`,
		Example: `  rrec recovery setup --guardians "Ann Smith",rrec1a...,Carol --threshold 2 --delay 48h
  rrec recovery status
  rrec recovery cancel`,
	}
	cmd.AddCommand(newRecoverySetupCmd(), newRecoveryStartCmd(), newRecoveryApproveCmd(), newRecoveryFinishCmd(),
		newRecoveryCancelCmd(), newRecoveryStatusCmd())
	return cmd
}

func newRecoverySetupCmd() *cobra.Command {
	var (
		cf        clientFlags
		guardians []string
		threshold int
		delay     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "setup --guardians A,B,C [--threshold K] [--delay DURATION]",
		Short: "Name the guardians who can restore your identity, and how many of them must agree",
		Long: `setup seals your identity in a record of its own on the network, makes a fresh recovery
key, splits it among the guardians (each by rrec1... identity or contact name; at most 10),
each part sealed to that guardian, and grants the sealed identity to the recovery key: the
nodes re-encrypt it only for a device that completed a recovery on the ledger. Any
--threshold of the guardians (default: a majority) can then restore it, after --delay
(default 48h) during which you can see and cancel the recovery. Running setup again replaces
the guardians, the threshold and the delay; the old parts become worthless. It prints the id
of the record the identity is sealed in: 'rrec audit' of it shows every recovery step.`,
		Example: `  rrec recovery setup --guardians Ann,Bob,"Dr Carol Jones" --threshold 2
  rrec recovery setup --guardians rrec1a...,rrec1b... --threshold 1 --delay 168h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			people, err := resolvePeople(guardians)
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			res, err := s.SetupRecovery(ctx, people, client.RecoveryOptions{Threshold: threshold, Delay: delay})
			if err != nil {
				return explain(err, "record")
			}
			if threshold == 0 {
				threshold = len(people)/2 + 1
			}
			if delay == 0 {
				delay = client.DefaultRecoveryDelay
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Record)
			fmt.Fprintf(cmd.ErrOrStderr(), "any %d of %d guardians (%s) can restore this identity, after a waiting period of %s;\n"+
				"it is sealed in record %s (its audit log shows every recovery), granted to the recovery key by grant %s (%d of %d nodes took their fragment)\n",
				threshold, len(people), strings.Join(guardians, ", "), delay, res.Record, res.Grant, res.Accepted, len(res.Deposits))
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringSliceVar(&guardians, "guardians", nil, "the guardians, by rrec1... `IDENTITY` or contact name, comma-separated")
	cmd.Flags().IntVar(&threshold, "threshold", 0, "how many guardians must approve a recovery (default: a majority)")
	cmd.Flags().DurationVar(&delay, "delay", 0, "the waiting period after the last needed approval, by the ledger's clock (default 48h; 1s to 2160h)")
	return cmd
}

func newRecoveryStartCmd() *cobra.Command {
	var (
		cf    clientFlags
		owner string
	)
	cmd := &cobra.Command{
		Use:   "start --owner IDENTITY",
		Short: "On a new device, ask to recover a lost identity; print the process id for the guardians",
		Long: `start is run on the new device, with a fresh identity of its own ('rrec keygen'): it asks
on the ledger to recover --owner (the lost identity's rrec1... string, or a contact name) onto
this device, and prints the process id. Give it to the guardians; once enough of them have
approved and the waiting period has passed, 'rrec recovery finish' restores the identity here.`,
		Example: `  rrec keygen -o new-device.key
  rrec recovery start -i new-device.key --owner rrec1a...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := resolvePerson(owner, "--owner")
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			p, err := s.StartRecovery(ctx, protocol.PubKeyOf(who.Signing))
			if err != nil {
				return explainRecovery(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			fmt.Fprintf(cmd.ErrOrStderr(), "give this process id to the guardians: they approve with 'rrec recovery approve --owner %s %s'\n", who, p)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "the identity to recover: its rrec1... `IDENTITY` or a contact name")
	return cmd
}

func newRecoveryApproveCmd() *cobra.Command {
	var (
		cf    clientFlags
		owner string
	)
	cmd := &cobra.Command{
		Use:   "approve --owner IDENTITY PROCESS",
		Short: "As a guardian, approve a recovery process and hand the new device your part",
		Long: `approve is run by a guardian of --owner: it opens the part of the recovery key the owner
sealed to you, seals it to the new device of PROCESS and approves the process on the ledger.
Approve only when you know the new device is the owner's — ask them in person or on the
phone: with enough approvals and no cancel, that device becomes the owner. It says what it
approves before it does.`,
		Example: `  rrec recovery approve --owner "Sam Patient" 5c1e...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseProcess(args[0])
			if err != nil {
				return err
			}
			who, err := resolvePerson(owner, "--owner")
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			key := protocol.PubKeyOf(who.Signing)
			proc, err := s.RecoveryProcess(ctx, p)
			if err != nil {
				return explainRecovery(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "approving the recovery of %s onto device %s, started %s\n",
				owner, short(proc.Device.String()), when(proc.Time))
			if err := s.ApproveRecovery(ctx, key, p); err != nil {
				return explainRecovery(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "approved")
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "whose recovery you approve: their rrec1... `IDENTITY` or contact name")
	return cmd
}

func newRecoveryFinishCmd() *cobra.Command {
	var (
		cf         clientFlags
		out        string
		wait       time.Duration
		passFile   string
		noPass     bool
		workFactor int
	)
	cmd := &cobra.Command{
		Use:   "finish PROCESS -o FILE [--wait DURATION]",
		Short: "On the new device, restore the identity once enough guardians approved and the wait is over",
		Long: `finish completes PROCESS, which this identity started: it rebuilds the recovery key from
the guardians' parts, commits the recovery's completion on the ledger (the owner's log shows
it), has the nodes re-encrypt the sealed identity for this device, opens it, and writes it to
FILE (mode 0600, sealed under a new passphrase unless --no-passphrase). The restored identity
is the lost one: the same keys, every record and grant. --wait waits, up to DURATION, for the
waiting period to pass first.`,
		Example: `  rrec recovery finish -i new-device.key 5c1e... -o ~/.rrec/patient.key --wait 72h`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseProcess(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("finish needs -o FILE: the restored identity is a secret and is only written to a file")
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s already exists; refusing to overwrite an identity", out)
			}
			pass, err := newPassphrase(passFile, noPass)
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			if wait > 0 {
				wctx, cancel := context.WithTimeout(ctx, wait)
				_, err := s.WaitRecoveryReady(wctx, p)
				cancel()
				if err != nil {
					return explainRecovery(err)
				}
			}
			id, err := s.FinishRecovery(ctx, p)
			if err != nil {
				return explainRecovery(err)
			}
			if err := writeIdentity(out, id, pass, workFactor); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id.Public())
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the restored identity to `FILE` (mode 0600, never overwritten)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to `DURATION` for the waiting period to pass")
	addPassphraseFlags(cmd, &passFile, &noPass, &workFactor)
	return cmd
}

func newRecoveryCancelCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "cancel [PROCESS]",
		Short: "Cancel a recovery of your identity you did not ask for (every open one without PROCESS)",
		Long: `cancel ends a recovery process of your identity for good, with your current identity file:
it can never finish. Without PROCESS it cancels every process that has not finished, lapsed
or been cancelled. A process that finished cannot be cancelled. If guardians had approved a
cancelled process, their parts went to its device: run 'rrec recovery setup' again, so that
they are worthless.`,
		Example: `  rrec recovery status
  rrec recovery cancel 5c1e...
  rrec recovery cancel`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			me := protocol.PubKeyOf(s.Identity().Signing)
			st, err := s.RecoveryStatus(ctx, me)
			if err != nil {
				return explainRecovery(err)
			}
			var todo []*protocol.RecoveryProcess
			for _, p := range st.Processes {
				ph := client.PhaseOf(st.Setup, p, st.Time)
				if (len(args) == 1 && p.ID.String() == strings.ToLower(args[0])) ||
					(len(args) == 0 && (ph == client.Collecting || ph == client.Waiting || ph == client.Ready)) {
					todo = append(todo, p)
				}
			}
			if len(args) == 1 && len(todo) == 0 {
				return fmt.Errorf("no recovery process %s of this identity", args[0])
			}
			leaked := false
			for _, p := range todo {
				if err := s.CancelRecovery(ctx, p.ID); err != nil {
					return explainRecovery(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cancelled %s\n", p.ID)
				leaked = leaked || len(p.Approvals) > 0
			}
			if len(todo) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no open recovery process")
			}
			if leaked {
				fmt.Fprintln(cmd.ErrOrStderr(), "rrec: guardians had approved: their parts of the recovery key went to that device; run 'rrec recovery setup' again so that they are worthless")
			}
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

func newRecoveryStatusCmd() *cobra.Command {
	var (
		cf      clientFlags
		owner   string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "status [--owner IDENTITY] [--json]",
		Short: "Show who guards an identity and every recovery of it, started, approved or finished",
		Long: `status shows the recovery setup of your identity (or of --owner) — the guardians, how many
must approve, the waiting period — and every recovery process ever started for it, with its
device, its approvals and where it stands: collecting (approvals), waiting (until the time
shown: cancel now if you did not ask for it), ready (the device may finish), finished (the
identity was restored there), cancelled, lapsed, or replaced (by a newer setup). Everything
comes from the ledger, confirmed by f+1 nodes.`,
		Example: `  rrec recovery status
  rrec recovery status --owner "Sam Patient" --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			key := protocol.PubKeyOf(s.Identity().Signing)
			if owner != "" {
				who, err := resolvePerson(owner, "--owner")
				if err != nil {
					return err
				}
				key = protocol.PubKeyOf(who.Signing)
			}
			st, err := s.RecoveryStatus(ctx, key)
			if err != nil {
				return explainRecovery(err)
			}
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			printRecovery(cmd.OutOrStdout(), namesBook(cmd.ErrOrStderr()), st)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "show another identity's recovery: its rrec1... `IDENTITY` or contact name")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
