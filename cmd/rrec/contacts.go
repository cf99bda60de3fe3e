package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newContactsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts [add NAME IDENTITY | rm NAME]",
		Short: "List, add or remove the names you know people by",
		Long: `contacts keeps your address book: a name for each public identity (rrec1...) people
handed you. 'rrec grant --to' takes a name from it, and 'rrec audit', 'rrec grants' and
'rrec ls --shared' show people by it. The book is the file $RREC_CONTACTS, else rrec/contacts
in your configuration directory; 'rrec app' uses the same one.`,
		Example: `  rrec contacts add "Dr Ada Smith" rrec1amexkkpm...
  rrec grant $REC --to "Dr Ada Smith" --for 720h --purpose treatment
  rrec contacts
  rrec contacts rm "Dr Ada Smith"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openContacts()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tIDENTITY")
			for _, c := range b.All() {
				fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.Identity)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME IDENTITY",
		Short: "Name a public identity (a name already used moves to the new identity)",
		Long: `add names a public identity (rrec1..., as 'rrec pubkey' prints it). Commands then take
the name wherever they take an identity (--to, --for-owner, --guardians) and show it
instead of the key. The identity's checksum is checked, so a mistyped string is refused.`,
		Example: `  rrec contacts add "Dr Ada Smith" rrec1amexkkpm...`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := identity.ParsePublic(args[1])
			if err != nil {
				return fmt.Errorf("%q is not a public identity (want the rrec1... string 'rrec pubkey' prints): %w", args[1], err)
			}
			b, err := openContacts()
			if err != nil {
				return err
			}
			return b.Add(args[0], pub)
		},
	}, &cobra.Command{
		Use:   "rm NAME",
		Short: "Forget a contact",
		Long: `rm forgets the name NAME. Grants and records are not touched: commands show the
identity as rrec1... again.`,
		Example: `  rrec contacts rm "Dr Ada Smith"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openContacts()
			if err != nil {
				return err
			}
			ok, err := b.Remove(args[0])
			if err == nil && !ok {
				err = fmt.Errorf("no contact called %q", args[0])
			}
			return err
		},
	})
	return cmd
}

func openContacts() (*contacts.Book, error) {
	path, err := contacts.DefaultPath()
	if err != nil {
		return nil, err
	}
	return contacts.Open(path)
}

// namesBook is the contacts book for commands that only show names: without one (no
// configuration directory, or a file that does not parse, which is said once) people are
// shown by their keys.
func namesBook(stderr io.Writer) *contacts.Book {
	b, err := openContacts()
	if err != nil {
		fmt.Fprintf(stderr, "rrec: warning: %v; showing keys instead of names\n", err)
		return nil
	}
	return b
}

// person shows someone by their contact name, else by the start of their identity (full: the
// rrec1... string when known, else the key's hex).
func person(b *contacts.Book, k protocol.PubKey, full string) string {
	if name, ok := b.NameOf(k); ok {
		return name
	}
	return short(full)
}
