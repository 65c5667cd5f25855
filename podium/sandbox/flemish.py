"""Shared Flemish fixture data for sandboxes: venues, people's names, streets, mail domains.

Real Flemish cultural venues with their public addresses (everything else a sandbox adds — halls,
capacities, organiser names, ids — is invented). Each sandbox takes the fields its vendor serves and
shapes them as that vendor does; the facts themselves live here once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Venue:
    """A venue's public facts. ``town`` is the postal locality, ``municipality`` the commune it belongs to."""

    key: str
    name: str  # as programmes and box offices write it
    long_name: str  # as the house writes it on its own letterhead
    name_fr: str
    street: str
    number: str
    zip: str
    town: str
    municipality: str
    homepage: str = ""
    lat: str = ""
    lon: str = ""

    @property
    def street_address(self) -> str:
        """Street and number, Belgian order."""
        return f"{self.street} {self.number}"


VENUES: tuple[Venue, ...] = (
    Venue("cc-hasselt", "CC Hasselt", "Cultuurcentrum Hasselt", "Centre culturel de Hasselt", "Kunstlaan", "5",
          "3500", "Hasselt", "Hasselt", "https://www.cchasselt.be/", "50.9293", "5.3375"),
    Venue("de-warande", "De Warande", "De Warande", "De Warande Turnhout", "Warandestraat", "42", "2300",
          "Turnhout", "Turnhout", "https://www.warande.be/", "51.3221", "4.9470"),
    Venue("stadsschouwburg-brugge", "Stadsschouwburg Brugge", "Stadsschouwburg Brugge",
          "Théâtre municipal de Bruges", "Vlamingstraat", "29", "8000", "Brugge", "Brugge",
          "https://www.ccbrugge.be/", "51.2100", "3.2240"),
    Venue("cc-strombeek", "CC Strombeek", "CC Strombeek", "Centre culturel de Strombeek", "Gemeenteplein", "1",
          "1853", "Strombeek-Bever", "Grimbergen", "https://www.ccstrombeek.be/", "50.9050", "4.3542"),
    Venue("desingel", "deSingel", "deSingel", "deSingel Anvers", "Desguinlei", "25", "2018", "Antwerpen",
          "Antwerpen", "https://www.desingel.be/", "51.1960", "4.4160"),
    Venue("handelsbeurs", "Handelsbeurs Concertzaal", "Handelsbeurs Concertzaal", "Salle de concert Handelsbeurs",
          "Kouter", "29", "9000", "Gent", "Gent", "https://www.handelsbeurs.be/", "51.0500", "3.7250"),
    Venue("kaaitheater", "Kaaitheater", "Kaaitheater", "Kaaitheater", "Sainctelettesquare", "20", "1000",
          "Brussel", "Brussel", "https://www.kaaitheater.be/", "50.8600", "4.3500"),
    Venue("schouwburg-kortrijk", "Schouwburg Kortrijk", "Schouwburg Kortrijk", "Théâtre de Courtrai",
          "Schouwburgplein", "14", "8500", "Kortrijk", "Kortrijk", "https://www.schouwburgkortrijk.be/",
          "50.8280", "3.2650"),
    Venue("het-depot", "Het Depot", "Het Depot", "Het Depot", "Martelarenplein", "12", "3000", "Leuven",
          "Leuven"),
    Venue("cc-mechelen", "Cultuurcentrum Mechelen", "Cultuurcentrum Mechelen", "Centre culturel de Malines",
          "Minderbroedersgang", "5", "2800", "Mechelen", "Mechelen"),
)
_BY_KEY = {venue.key: venue for venue in VENUES}


def venue(key: str) -> Venue:
    """The venue with ``key``; an unknown key is a KeyError listing the known ones."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no Flemish venue {key!r}; known: {', '.join(_BY_KEY)}") from None


def venues(*keys: str) -> tuple[Venue, ...]:
    """The venues with these keys, in that order."""
    return tuple(venue(key) for key in keys)


# People: common Flemish given and family names, a few francophone pairs, and the mixed lists of a
# Brussels-rim customer base.
GIVEN_NAMES = ("An", "Bart", "Els", "Jan", "Katrien", "Luc", "Marie", "Pieter", "Sofie", "Tom", "Veerle", "Wim",
               "Lotte", "Jonas", "Fien", "Arne", "Hanne", "Kobe", "Nele", "Ruben")
FAMILY_NAMES = ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
                "De Smet", "Van den Broeck", "Vermeulen", "Declercq", "Van Damme", "Dewulf", "Lemmens")
FRANCOPHONE_NAMES = (("Camille", "Dubois"), ("Julien", "Lambert"), ("Élodie", "Dupont"), ("Mathieu", "Lejeune"))
MIXED_GIVEN_NAMES = ("Jan", "Els", "Pieter", "An", "Wouter", "Lies", "Koen", "Sofie", "Bart", "Hilde", "Thomas",
                     "Nathalie", "Jef", "Marie", "Luc", "Camille", "Dirk", "Fien", "Geert", "Elodie")
MIXED_FAMILY_NAMES = ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
                      "Wouters", "De Smet", "Van den Broeck", "Vermeulen", "Dubois", "Lambert", "Van Damme",
                      "Verstraete")
MAIL_DOMAINS = ("telenet.be", "skynet.be", "gmail.com", "proximus.be", "hotmail.com")

# Streets: the names every Flemish village has, and home addresses (street, town, postcode) across
# Flanders and one in Wallonia.
STREETS = ("Stationsstraat", "Kerkstraat", "Molenstraat", "Dorpsstraat", "Schoolstraat", "Nieuwstraat")
HOME_ADDRESSES = (("Kerkstraat", "Hasselt", "3500"), ("Stationsstraat", "Turnhout", "2300"),
                  ("Langestraat", "Brugge", "8000"), ("Molenstraat", "Grimbergen", "1850"),
                  ("Rue de la Station", "Namur", "5000"), ("Dorpsstraat", "Genk", "3600"),
                  ("Veldstraat", "Gent", "9000"), ("Boomsesteenweg", "Wilrijk", "2610"))
