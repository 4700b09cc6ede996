package config

import (
	"strings"
)

// Region is a Genesys Cloud region: where its API and login hosts are, and
// which country's numbering plan national numbers are read in by default.
type Region struct {
	// Name is the AWS region name Genesys uses, such as eu-west-1.
	Name string
	// Suffix is the host suffix: the API host is api.<Suffix>, the login
	// host login.<Suffix>.
	Suffix string
	// Country is the default ISO 3166 alpha-2 country for phone numbers.
	Country string
	// Location says where the region is, for people.
	Location string
}

// APIURL returns https://api.<suffix>.
func (r Region) APIURL() string { return "https://api." + r.Suffix }

// LoginURL returns https://login.<suffix>: the official SDKs derive it by
// replacing "api." with "login." in the API host.
func (r Region) LoginURL() string { return "https://login." + r.Suffix }

// regions is the table of Genesys Cloud regions, from the region hosts of
// the official SDKs (PureCloudRegionHosts in platform-client-sdk-javascript
// and -dotnet). eusc-de-east-1 (EU sovereign cloud) is not in those files;
// its suffix comes from Genesys's published allow-lists: check it against
// your organisation, or set upstream URLs explicitly.
var regions = []Region{
	{"us-east-1", "mypurecloud.com", "US", "Americas (US East, Virginia)"},
	{"us-east-2", "use2.us-gov-pure.cloud", "US", "Americas (US East 2, Ohio; FedRAMP, US government)"},
	{"us-west-2", "usw2.pure.cloud", "US", "Americas (US West, Oregon)"},
	{"ca-central-1", "cac1.pure.cloud", "CA", "Americas (Canada Central)"},
	{"sa-east-1", "sae1.pure.cloud", "BR", "Americas (São Paulo)"},
	{"mx-central-1", "mxc1.pure.cloud", "MX", "Americas (Mexico Central)"},
	{"eu-west-1", "mypurecloud.ie", "IE", "EMEA (Dublin)"},
	{"eu-west-2", "euw2.pure.cloud", "GB", "EMEA (London)"},
	{"eu-central-1", "mypurecloud.de", "DE", "EMEA (Frankfurt)"},
	{"eu-central-2", "euc2.pure.cloud", "CH", "EMEA (Zurich)"},
	{"me-central-1", "mec1.pure.cloud", "AE", "EMEA (UAE)"},
	{"eusc-de-east-1", "edee1.eusc-pure.cloud", "DE", "EMEA (EU Sovereign Cloud, Germany)"},
	{"ap-south-1", "aps1.pure.cloud", "IN", "Asia Pacific (Mumbai)"},
	{"ap-southeast-1", "apse1.pure.cloud", "SG", "Asia Pacific (Singapore)"},
	{"ap-southeast-2", "mypurecloud.com.au", "AU", "Asia Pacific (Sydney)"},
	{"ap-northeast-1", "mypurecloud.jp", "JP", "Asia Pacific (Tokyo)"},
	{"ap-northeast-2", "apne2.pure.cloud", "KR", "Asia Pacific (Seoul)"},
	{"ap-northeast-3", "apne3.pure.cloud", "JP", "Asia Pacific (Osaka)"},
}

// DefaultRegion is the region callfix fronts when none is configured.
const DefaultRegion = "us-east-1"

// Regions returns the region table, in the order `callfix regions` prints it.
func Regions() []Region { return append([]Region(nil), regions...) }

// RegionNames returns every region's AWS name.
func RegionNames() []string {
	names := make([]string, len(regions))
	for i, r := range regions {
		names[i] = r.Name
	}
	return names
}

// LookupRegion finds a region by its AWS name (eu-west-1) or its host
// suffix (mypurecloud.ie), also written as an API or login host
// (api.mypurecloud.ie) or URL (https://api.mypurecloud.ie). Case is ignored.
func LookupRegion(name string) (Region, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "https://")
	n = strings.TrimSuffix(n, "/")
	for _, p := range []string{"api.", "login."} {
		if strings.HasPrefix(n, p) {
			n = n[len(p):]
			break
		}
	}
	n = strings.ReplaceAll(n, "_", "-")
	for _, r := range regions {
		if n == r.Name || n == r.Suffix {
			return r, true
		}
	}
	return Region{}, false
}
