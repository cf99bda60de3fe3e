package fhir

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// MaxResourceSize bounds the JSON of a typed record: Validate and Describe hold it, and
// the parsed resource, in memory.
const MaxResourceSize = 16 << 20

// maxDepth bounds the nesting of elements the validator follows. The deepest official R4
// example nests 12 levels; a document Bundle with contained resources stays far below.
const maxDepth = 64

// ErrInvalid wraps every refusal of input that is not valid FHIR R4 JSON.
var ErrInvalid = errors.New("fhir: not valid FHIR R4")

// Validate checks that b is one FHIR R4 resource in JSON (a Bundle counts, with every
// resource inside it), as Google's FHIR R4 parser reads it: unknown elements, missing
// required elements, cardinalities, primitive formats, the codes of required bindings and
// the target types of references. It does not evaluate FHIRPath invariants or profiles.
// A refusal wraps ErrInvalid and names the first few problems by element path.
func Validate(b []byte) error {
	if len(b) > MaxResourceSize {
		return fmt.Errorf("%w: %d bytes, more than the %d a typed record may have", ErrInvalid, len(b), MaxResourceSize)
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return err
	}
	u.MaxNestingDepth = maxDepth
	if _, err := u.Unmarshal(b); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, problems(err, 5))
	}
	return nil
}

// problems lists the parser's first n problems on one line: it reports each on a line of
// its own, and a broken Bundle can have hundreds. An unknown element is named: the parser
// keeps its name apart, with diagnostics that may quote the input, of which nothing else
// is shown.
func problems(err error, n int) string {
	var lines []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
			return
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
			return
		case reflect.Struct:
			path, details, diag := v.FieldByName("Path"), v.FieldByName("Details"), v.FieldByName("Diagnostics")
			if path.Kind() == reflect.String && details.Kind() == reflect.String && diag.Kind() == reflect.String {
				line := details.String()
				if path.String() != "" {
					line = fmt.Sprintf("at %s: %s", path.String(), line)
				}
				if details.String() == "unknown field" {
					line += " " + diag.String()
				}
				lines = append(lines, line)
			}
		}
	}
	walk(reflect.ValueOf(err))
	if len(lines) == 0 {
		lines = strings.Split(strings.TrimSpace(err.Error()), "\n")
	}
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("and %d more", len(lines)-n))
	}
	return strings.Join(lines, "; ")
}
