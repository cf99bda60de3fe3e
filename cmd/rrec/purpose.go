package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// purposeFlags are --purpose, a PurposeOfUse code (or its display name), and
// --purpose-text, free text for the purposes no code fits. The ledger stores either as a
// string: the code, or the text.
type purposeFlags struct {
	code, text string
}

func (p *purposeFlags) add(cmd *cobra.Command, why string) {
	cmd.Flags().StringVar(&p.code, "purpose", "", why+": a PurposeOfUse `CODE` (TREAT, ETREAT, HPAYMT, …) or its name, in any case (listed by 'rrec grant --help')")
	cmd.Flags().StringVar(&p.text, "purpose-text", "", why+", in free `TEXT` when no code fits (recorded as written)")
	cmd.MarkFlagsMutuallyExclusive("purpose", "purpose-text")
}

// value is the purpose as the ledger stores it: "" when none was given.
func (p *purposeFlags) value() (string, error) {
	if p.code != "" {
		c, ok := fhir.LookupPurpose(p.code)
		if !ok {
			return "", fmt.Errorf("--purpose %q is not a PurposeOfUse code or name (see --help for the list, such as TREAT or \"treatment\"); for free text use --purpose-text", p.code)
		}
		return c.Code, nil
	}
	t := strings.TrimSpace(p.text)
	if p.text != "" && t == "" || len(t) > protocol.MaxPurpose || !utf8.ValidString(t) || strings.ContainsFunc(t, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("--purpose-text: want text of 1 to %d bytes, without control characters", protocol.MaxPurpose)
	}
	return t, nil
}

// purposeName is a stored purpose as people read it: a code's display name, else the text.
func purposeName(stored string) string {
	if stored == "" {
		return "-"
	}
	return fhir.ParsePurpose(stored).Display
}

// purposeHelp lists the PurposeOfUse codes with their display names in two columns, the
// most used first (down the first): what --purpose takes.
func purposeHelp() string {
	ps := fhir.PurposesOfUse()
	half := (len(ps) + 1) / 2
	width := 0
	for _, p := range ps[:half] {
		width = max(width, len(p.Display))
	}
	var b strings.Builder
	b.WriteString("Purposes of use (HL7 v3 PurposeOfUse), the most used first; --purpose takes the code or\nthe name, in any case, and the ledger keeps the code:\n")
	for i := range half {
		line := fmt.Sprintf("  %-11s %-*s", ps[i].Code, width, ps[i].Display)
		if j := i + half; j < len(ps) {
			line += fmt.Sprintf("  %-11s %s", ps[j].Code, ps[j].Display)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}
