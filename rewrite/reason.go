package rewrite

// Reason says why a value could not be repaired. Its Code is short, stable
// and of bounded cardinality (fit for a metric label); its Message is for a
// person and never contains the value itself, so that it can be shown
// without leaking a phone number.
type Reason uint8

const (
	reasonNone Reason = iota
	// ReasonEmpty: the value is empty or only whitespace.
	ReasonEmpty
	// ReasonCharacters: letters or symbols that no phone notation uses.
	ReasonCharacters
	// ReasonNotAddress: not a phone number, user ID or known URI.
	ReasonNotAddress
	// ReasonNotNumber: a JSON number that is not a plain non-negative integer.
	ReasonNotNumber
	// ReasonTooShort: fewer digits than any number of the country.
	ReasonTooShort
	// ReasonTooLong: more digits than any number of the country.
	ReasonTooLong
	// ReasonInvalidLength: a length between the shortest and longest, that
	// the country's plan still does not have.
	ReasonInvalidLength
	// ReasonLocalOnly: a local number without its area code.
	ReasonLocalOnly
	// ReasonCountryCode: an international number whose country calling code
	// does not exist.
	ReasonCountryCode
	// ReasonNoCountry: a national number, and no usable default country.
	ReasonNoCountry
	// ReasonNotValid: possible, but not assigned (validation level valid).
	ReasonNotValid
	// ReasonTelURI: a tel: URI with parameters or characters callfix cannot
	// interpret.
	ReasonTelURI
	// ReasonExtension: an extension with no digits or too many.
	ReasonExtension
	// ReasonExtensionNotAllowed: an extension in a field that takes E.164.
	ReasonExtensionNotAllowed
	// ReasonNotPhone: a user ID or SIP URI in a field that takes a number.
	ReasonNotPhone
	// ReasonNotUser: not a user ID in a field that takes one.
	ReasonNotUser
	// ReasonNotValidInCountry: a national number that is possible but not
	// assigned in the country it was read in (validation level valid): it
	// may belong to another country, so callfix does not move it into this
	// one.
	ReasonNotValidInCountry
	reasonCount
)

var reasonText = [reasonCount]struct{ code, msg string }{
	reasonNone:                {"", ""},
	ReasonEmpty:               {"empty", "is empty"},
	ReasonCharacters:          {"invalid_characters", "contains letters or symbols; a phone number may hold only digits, a leading +, spaces, ( ) - . / separators and an extension such as x123"},
	ReasonNotAddress:          {"not_an_address", "is not a phone number, a user ID, or a tel:, sip:, sips: or user: URI"},
	ReasonNotNumber:           {"not_an_integer", "is a JSON number that is not a whole number; send the phone number as a string"},
	ReasonTooShort:            {"too_short", "has too few digits to be a phone number"},
	ReasonTooLong:             {"too_long", "has too many digits to be a phone number"},
	ReasonInvalidLength:       {"invalid_length", "has a number of digits that the country's numbering plan does not use"},
	ReasonLocalOnly:           {"local_only", "is a local number without its area code"},
	ReasonCountryCode:         {"invalid_country_code", "starts with a country calling code that does not exist"},
	ReasonNoCountry:           {"no_country", "is a national number but no valid default country is set"},
	ReasonNotValid:            {"not_valid", "is not an assigned number in the country's numbering plan"},
	ReasonTelURI:              {"invalid_tel_uri", "is a tel: URI that callfix cannot interpret"},
	ReasonExtension:           {"invalid_extension", "has an extension that is not 1 to 10 digits"},
	ReasonExtensionNotAllowed: {"extension_not_allowed", "has an extension, which an E.164 number cannot carry"},
	ReasonNotPhone:            {"not_a_phone_number", "is not a phone number, but this field takes one"},
	ReasonNotUser:             {"not_a_user_id", "is not a user ID (a UUID) or a user: URI"},
	ReasonNotValidInCountry:   {"not_valid_in_country", "is not a valid number in the country it was read in; write it with its country code (+44...), or set the country"},
}

// Code returns the stable machine-readable code, such as too_short.
func (r Reason) Code() string {
	if r < reasonCount {
		return reasonText[r].code
	}
	return "unknown"
}

// Message returns a sentence fragment for a person, such as "has too few
// digits to be a phone number". It never contains the value.
func (r Reason) Message() string {
	if r < reasonCount {
		return reasonText[r].msg
	}
	return "cannot be repaired"
}

// String returns the Code.
func (r Reason) String() string { return r.Code() }

// KeepReason says why a value is kept on purpose: forwarded byte for byte in
// every mode, never a problem, because Genesys dials it as it is. Its Code is
// stable and of bounded cardinality.
type KeepReason uint8

const (
	keepNone KeepReason = iota
	// KeepEmergency: a number that reaches emergency services in the country
	// it is read in (phonenumbers' short-number metadata).
	KeepEmergency
	// KeepShortCode: a valid short number of that country, such as 988.
	KeepShortCode
	// KeepExtension: digits only, as many as the Extension number plan takes
	// (addresses.extension_digits).
	KeepExtension
	// KeepNetworkAddress: user@host, which Genesys's Network number plan
	// turns into a SIP URI.
	KeepNetworkAddress
	// KeepOperatorPattern: matches one of the operator's addresses.keep
	// patterns.
	KeepOperatorPattern
	keepCount
)

var keepText = [keepCount]string{
	keepNone:            "",
	KeepEmergency:       "emergency",
	KeepShortCode:       "short_code",
	KeepExtension:       "extension",
	KeepNetworkAddress:  "network_address",
	KeepOperatorPattern: "operator_pattern",
}

// KeepReasons lists every KeepReason, in the order they are checked.
func KeepReasons() []KeepReason {
	return []KeepReason{KeepEmergency, KeepShortCode, KeepExtension, KeepNetworkAddress, KeepOperatorPattern}
}

// Code returns the stable machine-readable code, such as emergency.
func (k KeepReason) Code() string {
	if k < keepCount {
		return keepText[k]
	}
	return "unknown"
}

// String returns the Code.
func (k KeepReason) String() string { return k.Code() }
