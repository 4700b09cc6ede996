package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
)

// TestRegions_ResolveByNameAndSuffix loads every region by its AWS name and
// by its host suffix, and checks the upstream hosts and country it gives.
func TestRegions_ResolveByNameAndSuffix(t *testing.T) {
	seen := map[string]bool{}
	f := func(name, suffix, country string) {
		t.Helper()
		seen[name] = true
		for _, region := range []string{name, suffix} {
			s := mustSnapshot(t, config.Options{Flags: map[string]string{"region": region}})
			if got := s.Config.Region; got != name {
				t.Errorf("region %q: Config.Region = %q, want %q", region, got, name)
			}
			if got := s.Region.Name; got != name {
				t.Errorf("region %q: Region.Name = %q, want %q", region, got, name)
			}
			if got := s.Region.Suffix; got != suffix {
				t.Errorf("region %q: Region.Suffix = %q, want %q", region, got, suffix)
			}
			if got, want := s.API.String(), "https://api."+suffix; got != want {
				t.Errorf("region %q: API = %q, want %q", region, got, want)
			}
			if got, want := s.Config.Upstream.API, "https://api."+suffix; got != want {
				t.Errorf("region %q: Upstream.API = %q, want %q", region, got, want)
			}
			if got, want := s.Login.String(), "https://login."+suffix; got != want {
				t.Errorf("region %q: Login = %q, want %q", region, got, want)
			}
			if got, want := s.Config.Upstream.Login, "https://login."+suffix; got != want {
				t.Errorf("region %q: Upstream.Login = %q, want %q", region, got, want)
			}
			if got := s.Country; got != country {
				t.Errorf("region %q: Country = %q, want %q", region, got, country)
			}
			if got := s.Config.Country; got != country {
				t.Errorf("region %q: Config.Country = %q, want %q", region, got, country)
			}
		}
	}
	// From PureCloudRegionHosts of the official SDKs; eusc-de-east-1 is not
	// in them (see regions.go).
	f("us-east-1", "mypurecloud.com", "US")
	f("us-east-2", "use2.us-gov-pure.cloud", "US")
	f("us-west-2", "usw2.pure.cloud", "US")
	f("ca-central-1", "cac1.pure.cloud", "CA")
	f("sa-east-1", "sae1.pure.cloud", "BR")
	f("mx-central-1", "mxc1.pure.cloud", "MX")
	f("eu-west-1", "mypurecloud.ie", "IE")
	f("eu-west-2", "euw2.pure.cloud", "GB")
	f("eu-central-1", "mypurecloud.de", "DE")
	f("eu-central-2", "euc2.pure.cloud", "CH")
	f("me-central-1", "mec1.pure.cloud", "AE")
	f("eusc-de-east-1", "edee1.eusc-pure.cloud", "DE")
	f("ap-south-1", "aps1.pure.cloud", "IN")
	f("ap-southeast-1", "apse1.pure.cloud", "SG")
	f("ap-southeast-2", "mypurecloud.com.au", "AU")
	f("ap-northeast-1", "mypurecloud.jp", "JP")
	f("ap-northeast-2", "apne2.pure.cloud", "KR")
	f("ap-northeast-3", "apne3.pure.cloud", "JP")

	// The table has exactly these regions: a new one needs a line above.
	names := config.RegionNames()
	if len(names) != 18 {
		t.Errorf("len(RegionNames()) = %d, want 18", len(names))
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("region %q has no case in this test", n)
		}
	}
}

func TestRegions_NamesAndSuffixesAreUnique(t *testing.T) {
	names, suffixes := map[string]bool{}, map[string]bool{}
	for _, r := range config.Regions() {
		if names[r.Name] || suffixes[r.Name] {
			t.Errorf("region name %q is not unique", r.Name)
		}
		if suffixes[r.Suffix] || names[r.Suffix] {
			t.Errorf("region suffix %q is not unique", r.Suffix)
		}
		names[r.Name], suffixes[r.Suffix] = true, true
		if r.Location == "" {
			t.Errorf("region %q has no Location", r.Name)
		}
	}
	if got, want := config.RegionNames(), func() []string {
		var n []string
		for _, r := range config.Regions() {
			n = append(n, r.Name)
		}
		return n
	}(); !slices.Equal(got, want) {
		t.Errorf("RegionNames() = %q, want the names of Regions() in order, %q", got, want)
	}
	if _, ok := config.LookupRegion(config.DefaultRegion); !ok {
		t.Errorf("DefaultRegion %q is not in the table", config.DefaultRegion)
	}
}

// LookupRegion accepts the ways people write a region.
func TestRegions_LookupAcceptsCommonSpellings(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		r, ok := config.LookupRegion(in)
		if want == "" {
			if ok {
				t.Errorf("LookupRegion(%q) = %q, want not found", in, r.Name)
			}
			return
		}
		if !ok || r.Name != want {
			t.Errorf("LookupRegion(%q) = %q, %v, want %q", in, r.Name, ok, want)
		}
	}
	f("eu-west-1", "eu-west-1")
	f("EU-WEST-1", "eu-west-1")
	f("eu_west_1", "eu-west-1") // as the SDKs' enums spell it
	f(" eu-west-1 ", "eu-west-1")
	f("mypurecloud.ie", "eu-west-1")
	f("MyPureCloud.IE", "eu-west-1")
	f("api.mypurecloud.ie", "eu-west-1")
	f("login.mypurecloud.ie", "eu-west-1")
	f("https://api.mypurecloud.ie", "eu-west-1")
	f("https://api.mypurecloud.ie/", "eu-west-1")
	f("mypurecloud.com.au", "ap-southeast-2")
	f("mypurecloud.com", "us-east-1")
	f("", "")
	f("eu-north-1", "")
	f("mypurecloud", "")
	f("purecloud.ie", "")
	f("apps.mypurecloud.ie", "")
}

// Explicit upstream URLs and country override the region's, each on its own;
// what is not overridden still comes from the region.
func TestRegions_ExplicitValuesOverrideTheRegion(t *testing.T) {
	f := func(flags map[string]string, wantAPI, wantLogin, wantCountry string) {
		t.Helper()
		flags["region"] = "eu-west-1"
		s := mustSnapshot(t, config.Options{Flags: flags})
		if got := s.API.String(); got != wantAPI {
			t.Errorf("%v: API = %q, want %q", flags, got, wantAPI)
		}
		if got := s.Login.String(); got != wantLogin {
			t.Errorf("%v: Login = %q, want %q", flags, got, wantLogin)
		}
		if got := s.Country; got != wantCountry {
			t.Errorf("%v: Country = %q, want %q", flags, got, wantCountry)
		}
		for key, want := range map[string]string{"upstream.api": wantAPI, "upstream.login": wantLogin, "country": wantCountry} {
			wantSrc := config.SourceRegion
			if _, set := flags[key]; set {
				wantSrc = config.SourceFlag
			}
			if got := s.Sources[key]; got != wantSrc {
				t.Errorf("%v: Sources[%q] = %q (value %q), want %q", flags, key, got, want, wantSrc)
			}
		}
		if got := s.Region.Name; got != "eu-west-1" {
			t.Errorf("%v: Region.Name = %q, want %q", flags, got, "eu-west-1")
		}
	}
	f(map[string]string{}, "https://api.mypurecloud.ie", "https://login.mypurecloud.ie", "IE")
	f(map[string]string{"upstream.api": "https://api.mypurecloud.de"}, "https://api.mypurecloud.de", "https://login.mypurecloud.ie", "IE")
	f(map[string]string{"upstream.login": "https://login.mypurecloud.de"}, "https://api.mypurecloud.ie", "https://login.mypurecloud.de", "IE")
	f(map[string]string{"country": "GB"}, "https://api.mypurecloud.ie", "https://login.mypurecloud.ie", "GB")
	f(map[string]string{"country": "gb"}, "https://api.mypurecloud.ie", "https://login.mypurecloud.ie", "GB")
	f(map[string]string{"upstream.api": "http://127.0.0.1:18081/", "upstream.login": "http://127.0.0.1:18082", "country": "JP"},
		"http://127.0.0.1:18081", "http://127.0.0.1:18082", "JP")
}

// An unknown region is one problem, which lists every valid name.
func TestRegions_UnknownRegionListsEveryName(t *testing.T) {
	got := loadProblems(t, config.Options{Flags: map[string]string{"region": "eu-north-1"}})
	if len(got) != 1 {
		t.Fatalf("problems = %q, want one", got)
	}
	if !strings.HasPrefix(got[0], `region (from --region): "eu-north-1" is not a Genesys Cloud region`) {
		t.Errorf("problem = %q, want it to start with the key, its flag and the value", got[0])
	}
	for _, n := range config.RegionNames() {
		if !strings.Contains(got[0], n) {
			t.Errorf("problem %q does not list %s", got[0], n)
		}
	}
}
