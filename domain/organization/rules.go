package organization

import (
	"strings"
	"sync"

	"golang.org/x/net/idna"

	"github.com/keywayhq/keyway/domain"
)

// MaxNameLength bounds an organization's name.
const MaxNameLength = 256

// MaxDomains bounds an organization's domains, which its read model holds.
const MaxDomains = 50

// NormalizeDomain lower-cases a domain name, converts it to its ASCII
// (punycode) form and checks that it is a registrable host name: dotted
// labels of letters, digits and hyphens, with a non-numeric top level.
func NormalizeDomain(field, raw string) (string, error) {
	bad := domain.InvalidField(field, "invalid_domain", "%s must be a valid domain name such as example.com.", field)
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(raw)), ".")
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil || len(ascii) > 253 || !strings.Contains(ascii, ".") {
		return "", bad
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", bad
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", bad
	}
	return ascii, nil
}

// consumerDomains are mail providers whose domains no organization may claim.
var consumerDomains = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, d := range strings.Fields(`
		gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk hotmail.fr live.com msn.com
		outlook.fr outlook.de yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com rocketmail.com aol.com
		icloud.com me.com mac.com protonmail.com proton.me pm.me gmx.com gmx.de gmx.net web.de mail.com
		yandex.com yandex.ru mail.ru inbox.ru qq.com 163.com 126.com sina.com zoho.com fastmail.com
		hey.com tutanota.com tuta.io comcast.net verizon.net att.net sbcglobal.net btinternet.com
		orange.fr free.fr laposte.net t-online.de libero.it naver.com hanmail.net rediffmail.com`) {
		m[d] = true
	}
	return m
})

// IsConsumerDomain reports whether d belongs to a public mail provider.
func IsConsumerDomain(d string) bool { return consumerDomains()[d] }
