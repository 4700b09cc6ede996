package rewrite_test

import (
	"testing"

	"github.com/callfix/callfix/rewrite"
)

// Enforce mode fails closed: a body that was not inspected because it is
// not exactly one JSON object is rejected, except an empty one; the rewrite
// and audit modes forward it as sent.
func TestDecide_UnreadableBody_EnforceRejects_OtherModesForward(t *testing.T) {
	body := []byte("x")
	f := func(mode rewrite.Mode, skip rewrite.Skip, wantReject bool) {
		t.Helper()
		res := rewrite.Result{Body: body, Skipped: skip}
		d := rewrite.Decide(mode, body, &res)
		if d.Reject != wantReject {
			t.Errorf("%s, %q: Reject = %v, want %v", mode, skip, d.Reject, wantReject)
		}
		if wantReject {
			if d.Unreadable != skip || d.Outcome != rewrite.OutcomeRejected {
				t.Errorf("%s, %q: Unreadable = %q, Outcome = %q, want %q and rejected", mode, skip, d.Unreadable, d.Outcome, skip)
			}
			return
		}
		if d.Unreadable != rewrite.SkipNone || string(d.Body) != "x" || d.Outcome != rewrite.OutcomeUnchanged {
			t.Errorf("%s, %q: decision = %+v, want the body forwarded unchanged", mode, skip, d)
		}
	}
	unreadable := []rewrite.Skip{rewrite.SkipNotJSON, rewrite.SkipTruncated, rewrite.SkipNotObject,
		rewrite.SkipTrailingData, rewrite.SkipNotUTF8, rewrite.SkipTooDeep}
	for _, skip := range unreadable {
		f(rewrite.ModeEnforce, skip, true)
		f(rewrite.ModeRewrite, skip, false)
		f(rewrite.ModeAudit, skip, false)
	}
	for _, mode := range []rewrite.Mode{rewrite.ModeEnforce, rewrite.ModeRewrite, rewrite.ModeAudit} {
		f(mode, rewrite.SkipEmpty, false)
		f(mode, rewrite.SkipNone, false)
	}
}

// A rejection for problems carries no Unreadable reason.
func TestDecide_Problems_EnforceRejectsForTheProblems(t *testing.T) {
	res := rewrite.Result{Body: []byte(`{}`), Problems: []rewrite.Problem{{Path: "phoneNumber", Reason: rewrite.ReasonTooShort}}}
	d := rewrite.Decide(rewrite.ModeEnforce, res.Body, &res)
	if !d.Reject || d.Unreadable != rewrite.SkipNone || d.Outcome != rewrite.OutcomeRejected {
		t.Errorf("decision = %+v, want a rejection for the problems", d)
	}
}
