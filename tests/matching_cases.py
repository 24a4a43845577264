"""Labelled matching cases: German sentences and headlines with the queries they must and must not
match. Each rule of the query language and of the German normalisation has cases on both sides,
including the near-misses the decisions in matching/normalise.py are about.

A case: (rule, query, text, expected match, aliases, title). `text` is the article body;
`title` (optional) the headline.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    rule: str
    query: str
    text: str
    expected: bool
    aliases: dict[str, list[str]] = field(default_factory=dict)
    title: str = ""

    @property
    def id(self) -> str:
        verdict = "match" if self.expected else "no-match"
        return f"{self.rule}: {self.query!r} {verdict} {(self.title or self.text)[:40]!r}"


LUKA = {"Lukaschenko": ["Lukashenko", "Lukaschenka", "Łukaszenka"]}
TICH = {"Tichanowskaja": ["Tsikhanouskaya", "Swetlana Tichanowskaja", "Cichanouskaja"]}

CASES: list[Case] = [
    # --- Boolean operators, implicit AND, parentheses -----------------------------------------
    Case("and", "Belarus AND Sanktionen", "Die EU verlängert die Sanktionen gegen Belarus.", True),
    Case("and", "Belarus AND Sanktionen", "Die EU verlängert die Sanktionen gegen Russland.", False),
    Case("implicit-and", "Belarus Sanktionen", "Belarus hofft auf ein Ende der Sanktionen.", True),
    Case("implicit-and", "Belarus Sanktionen", "Belarus hofft auf bessere Beziehungen.", False),
    Case("or", "Minsk OR Vilnius", "In Vilnius demonstrierten Exil-Belarussen.", True),
    Case("or", "Minsk OR Vilnius", "In Warschau demonstrierten Exil-Belarussen.", False),
    Case("not", "Sanktion NOT Fußball", "Die UEFA verhängt Sanktionen gegen den Fußballverband.", False),
    Case("not", "Sanktion NOT Fußball", "Washington lockert Sanktionen gegen Minsk.", True),
    Case("precedence", "Putin OR Trump AND Gipfel", "Putin spricht vor der Duma.", True),
    Case("precedence", "(Putin OR Trump) AND Gipfel", "Putin spricht vor der Duma.", False),
    Case("precedence", "NOT Sport AND Belarus", "Belarus lässt Gefangene frei.", True),
    Case("german-operators", "Belarus UND (Gefangene ODER Häftlinge) NICHT Fußball",
         "Belarus lässt 52 Häftlinge frei.", True),
    Case("operators-are-upper-case", "Not", "In der Not helfen Nachbarn.", True),
    # --- phrases --------------------------------------------------------------------------------
    Case("phrase", '"politische Gefangene"', "Minsk hat 52 politische Gefangene freigelassen.", True),
    Case("phrase-inflection", '"politische Gefangene"', "Die Freilassung der politischen Gefangenen dauert an.", True),
    Case("phrase-order", '"politische Gefangene"', "Gefangene, politische wie kriminelle, kamen frei.", False),
    Case("phrase-adjacent", '"politische Gefangene"', "Politische Beobachter zählen 1200 Gefangene.", False),
    Case("phrase-no-compounds", '"Gefangene"', "Kriegsgefangene wurden ausgetauscht.", False),
    Case("phrase-german-quotes", "„Weißes Haus“", "Das Weiße Haus bestätigte das Telefonat.", True),
    # --- wildcards ------------------------------------------------------------------------------
    Case("wildcard", "Sanktion*", "Die Sanktionslockerung kam überraschend.", True),
    Case("wildcard", "Gefangen*", "Das Gefangenenlager liegt bei Wizebsk.", True),
    Case("wildcard", "Gefangen*", "Die Gefahr wächst.", False),
    Case("wildcard-inside-compound", "Sanktion*", "Neue Wirtschaftssanktionen treffen die Raffinerien.", True),
    Case("wildcard-in-phrase", '"politisch* Gefangen*"', "Politisch Gefangene berichten von Folter.", True),
    # --- NEAR/n ---------------------------------------------------------------------------------
    Case("near", "Putin NEAR/3 Trump", "Putin und Trump trafen sich in Alaska.", True),
    Case("near-both-orders", "Putin NEAR/3 Trump", "Trump lobte Putin überschwänglich.", True),
    Case("near-too-far", "Putin NEAR/3 Trump",
         "Putin sprach lange über die Lage in der Ukraine, bevor Trump antwortete.", False),
    Case("near-exact-limit", "Witkoff NEAR/6 Dmitrijew", "Witkoff traf am Sonntag den Gesandten Dmitrijew.", True),
    Case("near-exact-limit", "Witkoff NEAR/5 Dmitrijew", "Witkoff traf am Sonntag den Gesandten Dmitrijew.", False),
    Case("near-group", "(Kreml OR Putin) NEAR/5 Gipfel", "Der Kreml bestätigt einen neuen Gipfel.", True),
    Case("near-not-across-fields", "Putin NEAR/2 Trump", "Trump schweigt.", False, title="Neuer Brief von Putin"),
    # --- title: scope ---------------------------------------------------------------------------
    Case("title", "title:Belarus", "Belarus ist nur im Text erwähnt.", False, title="Neue Gespräche in Istanbul"),
    Case("title", "title:Belarus", "Kein Wort dazu im Text.", True, title="Belarus lässt Gefangene frei"),
    Case("title-group", "title:(Belavia OR Boeing) AND Ersatzteile",
         "Ersatzteile für Boeing-Jets kommen wieder.", True, title="Belavia darf wieder Teile kaufen"),
    Case("title-phrase", 'title:"Weißes Haus"', "Das Weiße Haus schweigt.", False, title="Stille in Washington"),
    # --- case, umlauts, ß, accents --------------------------------------------------------------
    Case("case", "BELARUS", "belarus und Russland üben gemeinsam.", True),
    Case("eszett", "Weißrussland", "Weissrussland, wie es in der Schweiz heißt, meldet Wahlen.", True),
    Case("eszett", "Weissrussland", "Weißrusslands Staatsmedien schweigen.", True),
    Case("umlaut-spelling", "Gespräche", "Die Gespraeche in Genf wurden vertagt.", True),
    Case("umlaut-spelling", "Haeftlinge", "Die Häftlinge wurden nach Litauen gebracht.", True),
    Case("accent", "Lukaszenka", "Łukaszenka ließ die Gefangenen frei.", True),
    Case("accent", "Perez", "Außenminister José Pérez reiste nach Minsk.", True),
    # --- inflection -----------------------------------------------------------------------------
    Case("inflection", "Sanktion", "Die Sanktionen bleiben bestehen.", True),
    Case("inflection", "Gefangener", "Drei Gefangene kamen frei.", True),
    Case("inflection", "Gefangener", "Die Familien der Gefangenen warten.", True),
    Case("inflection", "Gesandter", "Der Gesandte reiste weiter nach Vilnius.", True),
    Case("inflection", "Gipfel", "Vor Beginn des Gipfels gab es Proteste.", True),
    Case("inflection-umlaut-plural", "Bank", "Die Bänke im Park sind nass.", True),
    Case("genitive-name", "Lukaschenko", "Lukaschenkos Sprecherin dementierte.", True),
    Case("genitive-name", "Trump", "Trumps Sondergesandter ist eingetroffen.", True),
    Case("genitive-apostrophe", "Belarus", "Belarus' Hauptstadt Minsk ist abgeriegelt.", True),
    # --- compounds and hyphenation --------------------------------------------------------------
    Case("hyphen-part", "Sanktion", "Die US-Sanktionen gegen Belavia wurden gelockert.", True),
    Case("hyphen-query", "US-Sanktionen", "Die US Sanktionen bleiben.", True),
    Case("hyphen-joined", "Sondergesandter", "Der Sonder-Gesandte reiste ab.", True),
    Case("compound-modifier", "Sanktion", "Die Sanktionserleichterungen gelten ab Montag.", True),
    Case("compound-head", "Gesandter", "Der Sondergesandter John Coale traf Lukaschenko.", True),
    Case("compound-head", "Sanktion", "Gegensanktionen Moskaus treffen Landwirte.", True),
    Case("compound-head", "Gefangener", "Kriegsgefangene wurden ausgetauscht.", True),
    Case("compound-middle", "Erleichterung", "Die Sanktionserleichterungsdebatte hält an.", True),
    Case("compound-inflected-modifier", "Gefangener", "Das Gefangenenlager wurde geräumt.", True),
    Case("compound-head", "Kali", "Belaruskali steigert den Export.", True),
    Case("compound-modifier", "Kali", "Kalidünger aus Belarus darf wieder durch Litauen.", True),
    Case("compound-head", "Rat", "Der Sicherheitsrat tagt am Freitag.", True),
    # near-misses: what looks like a compound but is not
    Case("near-miss-place", "Kali", "In Kaliningrad landeten zwei Maschinen.", False),
    Case("near-miss-place", "Kali", "Waldbrände in Kalifornien breiten sich aus.", False),
    Case("near-miss-rat", "Rat", "Eine Ratte lief über den Bahnsteig.", False),
    Case("near-miss-rat", "Rat", "Die Beratung dauerte bis Mitternacht.", False),
    Case("near-miss-rat", "Rat", "Die Ratifizierung des Abkommens steht aus.", False),
    Case("near-miss-rat", "Rat", "Die Demokraten kritisieren den Plan.", False),
    Case("near-miss-prefix-derivation", "Rat", "Der Vorrat an Getreide reicht.", False),
    Case("near-miss-prefix-derivation", "Treffen", "Die Delegation soll am Abend eintreffen.", False),
    Case("near-miss-sch", "Haft", "Die Botschaft in Minsk bleibt geschlossen.", False),
    Case("near-miss-sch", "Haft", "Die Wirtschaft wächst kaum.", False),
    Case("near-miss-adjective", "Haft", "Die Lage ist ernsthaft angespannt.", False),
    Case("compound-head", "Haft", "Nach zwei Jahren Untersuchungshaft kam er frei.", True),
    Case("near-miss-derivation", "Belarus", "Die belarussische Opposition im Exil ist gespalten.", False),
    Case("derivation-with-wildcard", "Belarus*", "Die belarussische Opposition im Exil ist gespalten.", True),
    Case("near-miss-stem", "Gefangener", "Das Gefängnis liegt bei Homel.", False),
    Case("near-miss-short-query", "Öl", "Der Ölpreis stieg.", False),
    Case("short-query-wildcard", "Öl*", "Der Ölpreis stieg.", True),
    # Sanktionsrecht is a compound of Sanktion whatever the context: combine with context words
    Case("sports-context", "Sanktion", "Der DFB verschärft sein Sanktionsrecht gegen Vereine.", True),
    Case("sports-context", "Sanktion AND Belarus", "Der DFB verschärft sein Sanktionsrecht gegen Vereine.", False),
    Case("sports-context", "Sanktion NOT (DFB OR Fußball* OR Verein*)",
         "Der DFB verschärft sein Sanktionsrecht gegen Vereine.", False),
    # --- aliases --------------------------------------------------------------------------------
    Case("alias", "Lukaschenko", "Lukashenko met the envoy.", True, LUKA),
    Case("alias", "Lukaschenko", "Łukaszenka spotkał się z wysłannikiem.", True, LUKA),
    Case("alias", "Lukaschenko", "Lukaschenka traf den Gesandten.", True, LUKA),
    Case("alias-without-config", "Lukaschenko", "Lukashenko met the envoy.", False),
    Case("alias-variant-in-query", "Lukashenko", "Lukaschenko empfing den Gesandten.", True, LUKA),
    Case("alias", "Tichanowskaja", "Tsikhanouskaya warnt vor Illusionen.", True, TICH),
    Case("alias-phrase-variant", "Tichanowskaja", "Swetlana Tichanowskaja spricht in Vilnius.", True, TICH),
    Case("alias-is-per-topic", "Tichanowskaja", "Lukashenko met the envoy.", False, TICH),
    # --- numbers and punctuation ----------------------------------------------------------------
    Case("number", "Zapad-2025", "Das Manöver Zapad-2025 endete ohne Zwischenfall.", True),
    Case("number", "2025", "Das Manöver Sapad 2025 endete.", True),
    Case("number", "100.000", "Insgesamt „100.000 Soldaten“ nahmen teil.", True),
    Case("quotes-in-text", "Gäste", "Er wies an, den „US-Gästen“ die besten Plätze zu geben.", True),
]
