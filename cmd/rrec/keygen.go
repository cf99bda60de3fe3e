package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/identity"
)

func newKeygenCmd() *cobra.Command {
	var out, passFile string
	var noPass bool
	var workFactor int
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create a new identity and print its public identity",
		Long: `keygen creates a new identity — one secret seed from which your signing key, your
receiving key and one key per record are derived — and writes it to FILE with mode 0600.
It never overwrites an existing file. Back the file up: records sealed under it cannot be
opened without it.

The seed is sealed under a passphrase (scrypt, about a second of work per try), so that a
copy of the file — a backup, a synced folder, a lost laptop — is not your keys. keygen asks
for it twice on the terminal; for automation, --passphrase-file FILE or $RREC_PASSPHRASE
gives it. Every command that opens the identity asks for it again (or reads
$RREC_PASSPHRASE or the file $RREC_PASSPHRASE_FILE names). --no-passphrase writes a file
protected only by its permissions, for a machine whose disk is itself protected. 'rrec
passwd' changes or removes the passphrase later. A forgotten passphrase cannot be recovered.

It prints the public identity, the short string you hand to others so that they can grant
you access (and that nodes use to check your signatures).`,
		Example: `  rrec keygen -o ~/.rrec/patient.key
  export RREC_IDENTITY=~/.rrec/patient.key
  rrec keygen -o clinic-service.key --passphrase-file /run/secrets/rrec-passphrase`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("keygen needs -o FILE: the identity is a secret and is only written to a file")
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s already exists; refusing to overwrite an identity", out)
			}
			pass, err := newPassphrase(passFile, noPass)
			if err != nil {
				return err
			}
			id, err := identity.Generate()
			if err != nil {
				return err
			}
			if err := writeIdentity(out, id, pass, workFactor); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id.Public())
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the new identity to `FILE` (mode 0600, never overwritten)")
	addPassphraseFlags(cmd, &passFile, &noPass, &workFactor)
	return cmd
}

// addPassphraseFlags gives keygen and passwd the flags that choose a new passphrase.
func addPassphraseFlags(cmd *cobra.Command, file *string, none *bool, workFactor *int) {
	cmd.Flags().StringVar(file, "passphrase-file", "", "read the new passphrase from the first line of `FILE` instead of asking")
	cmd.Flags().BoolVar(none, "no-passphrase", false, "write the identity unprotected by a passphrase (only its file mode protects it)")
	cmd.Flags().IntVar(workFactor, "work-factor", identity.DefaultWorkFactor,
		fmt.Sprintf("log2 of scrypt's cost, %d–%d: each step doubles the time and memory of every try, yours and a thief's", identity.MinWorkFactor, identity.MaxWorkFactor))
}

func newPubkeyCmd() *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "pubkey [-i FILE]",
		Short: "Print the public identity of an identity file",
		Long: `pubkey prints the public identity (rrec1...) of an identity file: the string to hand to
people who will share records with you or name you as a guardian or caregiver. It holds
your public keys only; a protected file asks for its passphrase to read them.`,
		Example: "  rrec pubkey -i ~/.rrec/patient.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := loadIdentity(in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id.Public())
			return nil
		},
	}
	addIdentityFlag(cmd, &in)
	return cmd
}

// addIdentityFlag gives a command the -i flag that every client command shares.
func addIdentityFlag(cmd *cobra.Command, in *string) {
	cmd.Flags().StringVarP(in, "identity", "i", "", "identity `FILE` (default $RREC_IDENTITY)")
}

func loadIdentity(path string) (*identity.Identity, error) {
	if path == "" {
		path = os.Getenv("RREC_IDENTITY")
	}
	if path == "" {
		return nil, errors.New("no identity: pass -i FILE or set RREC_IDENTITY (create one with 'rrec keygen -o FILE')")
	}
	return identity.Open(path, passphraseFor(path))
}

func newPasswdCmd() *cobra.Command {
	var in, passFile string
	var noPass bool
	var workFactor int
	cmd := &cobra.Command{
		Use:   "passwd [-i FILE]",
		Short: "Change, add or remove the passphrase of an identity file",
		Long: `passwd opens the identity file with its current passphrase (asked on the terminal, or
$RREC_PASSPHRASE, or the file $RREC_PASSPHRASE_FILE names; none for a file without one) and
replaces the file, atomically, with one sealed under a new passphrase (asked twice, or
--passphrase-file) — or, with --no-passphrase, with one protected only by its file mode.
The identity stays the same: every record and grant is untouched.

Changing the passphrase does not protect copies of the old file: whoever has one can still
open it with the old passphrase.`,
		Example: `  rrec passwd -i ~/.rrec/patient.key
  rrec passwd -i service.key --passphrase-file new-passphrase.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := in
			if path == "" {
				path = os.Getenv("RREC_IDENTITY")
			}
			id, err := loadIdentity(path)
			if err != nil {
				return err
			}
			// The current passphrase may have come from $RREC_PASSPHRASE: the new one must not.
			os.Unsetenv(envPassphrase)
			os.Unsetenv(envPassphraseFile)
			pass, err := newPassphrase(passFile, noPass)
			if err != nil {
				return err
			}
			if err := identity.Reprotect(path, id, pass, workFactor); err != nil {
				return err
			}
			if pass == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is no longer protected by a passphrase\n", path)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is protected by the new passphrase\n", path)
			}
			return nil
		},
	}
	addIdentityFlag(cmd, &in)
	addPassphraseFlags(cmd, &passFile, &noPass, &workFactor)
	return cmd
}
