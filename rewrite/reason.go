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
