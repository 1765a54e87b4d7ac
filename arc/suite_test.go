package arc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testpeer"
	"gopkg.in/yaml.v3"
)

// suiteDir returns the directory of the public ARC test suite, or skips
// (fails under EXIGO_REQUIRE_PEERS=1) when it is absent.
func suiteDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("EXIGO_ARC_SUITE")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "testdata", "arc")
	}
	if _, err := os.Stat(filepath.Join(dir, "arc-draft-validation-tests.yml")); err != nil {
		testpeer.Missing(t, "ARC test suite not found in "+dir+" (set EXIGO_ARC_SUITE)")
	}
	return dir
}

type suiteScenario struct {
	Description string               `yaml:"description"`
	Tests       map[string]suiteCase `yaml:"tests"`
	TXT         map[string]string    `yaml:"txt-records"`
	Domain      string               `yaml:"domain"`
	Sel         string               `yaml:"sel"`
	PrivateKey  string               `yaml:"privatekey"`
}

type suiteCase struct {
	Description string `yaml:"description"`
	Message     string `yaml:"message"`
	CV          string `yaml:"cv"`
	T           int64  `yaml:"t"`
	SigHeaders  string `yaml:"sig-headers"`
	SrvID       string `yaml:"srv-id"`
	AS          string `yaml:"AS"`
	AMS         string `yaml:"AMS"`
	AAR         string `yaml:"AAR"`
}

func loadSuite(t testing.TB, file string) []suiteScenario {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suiteDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []suiteScenario
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		// The suite names four tests twice; YAML keeps the last, which
		// yaml.v3 refuses to do for us: take the tests mapping apart here.
		root := doc.Content[0]
		tests := map[string]suiteCase{}
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value != "tests" {
				continue
			}
			m := root.Content[i+1]
			for j := 0; j+1 < len(m.Content); j += 2 {
				var c suiteCase
				if err := m.Content[j+1].Decode(&c); err != nil {
					t.Fatalf("%s: %s: %v", file, m.Content[j].Value, err)
				}
				tests[m.Content[j].Value] = c
			}
			root.Content[i+1] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		var s suiteScenario
		if err := root.Decode(&s); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		s.Tests = tests
		out = append(out, s)
	}
	return out
}

// suiteResolver serves a scenario's txt-records (line breaks in the YAML
// are folding, not content).
func suiteResolver(m map[string]string) MapResolver {
	r := MapResolver{}
	for k, v := range m {
		r[k] = strings.ReplaceAll(v, "\n", "")
	}
	return r
}

func sortedNames(m map[string]suiteCase) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestValidationSuite(t *testing.T) {
	scens := loadSuite(t, "arc-draft-validation-tests.yml")
	total, passed := 0, 0
	for _, sc := range scens {
		v := &Verifier{Resolver: suiteResolver(sc.TXT)}
		// The options change no outcome (but OldestPass when skipped).
		alts := []*Verifier{{Resolver: v.Resolver, Parallel: true}, {Resolver: v.Resolver, SkipOldestPass: true},
			{Resolver: v.Resolver, SkipOldestPass: true, Parallel: true}}
		for _, name := range sortedNames(sc.Tests) {
			tc := sc.Tests[name]
			total++
			want := State(strings.ToLower(strings.TrimSpace(tc.CV)))
			if want == "" {
				want = Fail // DESIGN.md: the three empty "cv: |" mean Fail
			}
			ok := t.Run(name, func(t *testing.T) {
				res, err := v.Verify(context.Background(), strings.NewReader(tc.Message))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.State != want {
					t.Errorf("%s: state %s (%s), want %s", tc.Description, res.State, res.Reason, want)
				}
				if res.State == Fail && res.Reason == "" {
					t.Errorf("fail without a reason")
				}
				for _, alt := range alts {
					got, err := alt.Verify(context.Background(), strings.NewReader(tc.Message))
					if err != nil {
						t.Fatalf("Verify (parallel %v, skip oldest-pass %v): %v", alt.Parallel, alt.SkipOldestPass, err)
					}
					want := *res
					if alt.SkipOldestPass {
						want.OldestPass = 0
					}
					if !reflect.DeepEqual(*got, want) {
						t.Errorf("parallel %v, skip oldest-pass %v: %+v, want %+v", alt.Parallel, alt.SkipOldestPass, *got, want)
					}
				}
			})
			if ok {
				passed++
			}
		}
	}
	t.Logf("ARC validation suite: %d/%d cases pass", passed, total)
	if total < 160 {
		t.Errorf("only %d validation cases loaded", total)
	}
}

// squash removes all whitespace, for comparing folded header values.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

func TestSigningSuite(t *testing.T) {
	scens := loadSuite(t, "arc-draft-sign-tests.yml")
	total, passed := 0, 0
	for _, sc := range scens {
		key, err := ParseKey([]byte(sc.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range sortedNames(sc.Tests) {
			tc := sc.Tests[name]
			total++
			ok := t.Run(name, func(t *testing.T) {
				s := &Signer{
					ADMD: tc.SrvID, Domain: sc.Domain, Selector: sc.Sel, Key: key,
					Headers: strings.Split(tc.SigHeaders, ":"), Timestamps: true,
					Now:      func() time.Time { return time.Unix(tc.T, 0) },
					Verifier: &Verifier{Resolver: suiteResolver(sc.TXT)},
				}
				br := bufio.NewReader(strings.NewReader(tc.Message))
				h, err := ReadHeader(br, 0)
				if err != nil {
					t.Fatal(err)
				}
				fields, err := s.Sign(context.Background(), h, br)
				if strings.TrimSpace(tc.AS) == "" {
					if !errors.Is(err, ErrChainFailed) {
						t.Fatalf("Sign: %v, want ErrChainFailed", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				for i, want := range []string{tc.AS, tc.AMS, tc.AAR} {
					if got := fields[i].Value(); squash(got) != squash(want) {
						t.Errorf("%s:\n got %s\nwant %s", fields[i].Name(), got, want)
					}
				}
			})
			if ok {
				passed++
			}
		}
	}
	t.Logf("ARC signing suite: %d/%d cases pass", passed, total)
}
