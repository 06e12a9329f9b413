package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCasesEval: over our own five letters (three copies of one, one
// other, one short), cases-eval links the two later copies into the
// first's case, finds both among the exact pairs, and shows the links.
func TestCasesEval(t *testing.T) {
	out, errOut, code := runCmd(t, "cases-eval", "--file", "testdata/cases.jsonl", "--show", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"letters 5; linkable 4 ",
		"linked 2 into 1 cases of two or more (largest 3 items)",
		"at least 0.50 alike exactly: 2, linked 2 (1.000)",
		"L2: 金桂园小区电梯坏了三个月没人修 | L1: 金桂园8栋电梯坏了三个月",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := runCmd(t, "cases-eval", "--file", "testdata/cases.jsonl", "--threshold", "2"); code != exitConfig {
		t.Errorf("--threshold 2: exit %d, want %d", code, exitConfig)
	}
	if _, errOut, code := runCmd(t, "cases-eval", "--file", "testdata/no-such.jsonl"); code != exitFail || !strings.Contains(errOut, "no-such.jsonl") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
}

// TestCasesEvalIDs: a letter without an id is named by its line, and
// that name is not one the file gives another letter: the copy's link is
// shown with the letter it was linked to, not with the one named alike.
func TestCasesEvalIDs(t *testing.T) {
	// line 1: L1 under the id "line-2"; line 2: R1 without an id; line 3: L2.
	out, errOut, code := runCmd(t, "cases-eval", "--file", "testdata/cases-ids.jsonl", "--show", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"linked 1 into 1 cases of two or more (largest 2 items)",
		"L2: 金桂园小区电梯坏了三个月没人修 | line-2: 金桂园8栋电梯坏了三个月",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCasesEvalJoinedFiles: letters from files a Windows editor saved and
// someone joined (a byte order mark opening each line) are all read.
func TestCasesEvalJoinedFiles(t *testing.T) {
	raw, err := os.ReadFile("testdata/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	joined := filepath.Join(t.TempDir(), "joined.jsonl")
	os.WriteFile(joined, []byte("\uFEFF"+strings.ReplaceAll(string(raw), "\n{", "\n\uFEFF{")), 0o600)
	out, errOut, code := runCmd(t, "cases-eval", "--file", joined)
	if code != 0 || !strings.Contains(out, "letters 5; linkable 4 ") {
		t.Errorf("exit %d, want the five letters read:\n%s%s", code, out, errOut)
	}
}
