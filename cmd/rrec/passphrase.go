package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/resilientrecords/resilientrecords/identity"
)

// Where a protected identity's passphrase comes from, in this order: $RREC_PASSPHRASE, the
// file $RREC_PASSPHRASE_FILE names, or a prompt on the terminal (/dev/tty, as age and ssh do,
// so that standard input stays free for data). Without any, a command refuses and says how.
const (
	envPassphrase     = "RREC_PASSPHRASE"
	envPassphraseFile = "RREC_PASSPHRASE_FILE"
	maxPassphrase     = 4 << 10
)

// passphraseFor is how loadIdentity asks for the passphrase of the identity file at path.
func passphraseFor(path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if p := os.Getenv(envPassphrase); p != "" {
			return []byte(p), nil
		}
		if f := os.Getenv(envPassphraseFile); f != "" {
			return readPassphraseFile(f)
		}
		p, err := prompt(fmt.Sprintf("Passphrase for %s: ", path))
		if errors.Is(err, errNoTerminal) {
			return nil, fmt.Errorf("%s is protected by a passphrase and there is no terminal to ask it on: set %s or %s",
				path, envPassphrase, envPassphraseFile)
		}
		return p, err
	}
}

// newPassphrase is the passphrase for a new or re-protected identity file: from file, else
// $RREC_PASSPHRASE or $RREC_PASSPHRASE_FILE, else asked twice on the terminal. none is
// --no-passphrase, which must be asked for: nil then.
func newPassphrase(file string, none bool) ([]byte, error) {
	switch {
	case none && file != "":
		return nil, errors.New("--no-passphrase and --passphrase-file contradict each other")
	case none:
		return nil, nil
	case file != "":
		return readPassphraseFile(file)
	case os.Getenv(envPassphrase) != "":
		return []byte(os.Getenv(envPassphrase)), nil
	case os.Getenv(envPassphraseFile) != "":
		return readPassphraseFile(os.Getenv(envPassphraseFile))
	}
	p, err := prompt("New passphrase (it protects every record of this identity; there is no way to recover it): ")
	if errors.Is(err, errNoTerminal) {
		return nil, fmt.Errorf("no terminal to ask for a passphrase on: pass --passphrase-file FILE or set %s, "+
			"or --no-passphrase for a file protected only by its permissions", envPassphrase)
	}
	if err != nil {
		return nil, err
	}
	again, err := prompt("The same passphrase again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, errors.New("the two passphrases differ; nothing was written")
	}
	return p, nil
}

// readPassphraseFile reads a passphrase from a file: its first line, without its line end.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassphrase+1))
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if len(b) > maxPassphrase {
		return nil, fmt.Errorf("passphrase file %s is over %d bytes", path, maxPassphrase)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("passphrase file %s is empty", path)
	}
	return line, nil
}

var errNoTerminal = errors.New("no terminal")

// prompt asks on the terminal without echo. It asks only when standard error is a terminal
// too: where no one would see the question (a script, a test, a service), waiting for an
// answer would hang for ever.
func prompt(question string) ([]byte, error) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, errNoTerminal
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoTerminal
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return nil, errNoTerminal
	}
	fmt.Fprint(tty, question)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("an empty passphrase protects nothing")
	}
	return p, nil
}

// writeIdentity writes a new identity file, protected unless pass is nil.
func writeIdentity(path string, id *identity.Identity, pass []byte, workFactor int) error {
	if pass == nil {
		return identity.WriteFile(path, id)
	}
	return identity.WriteProtectedFile(path, id, pass, workFactor)
}
