"""Fixed vocabularies: French names and places, hospital services, LOINC/ATC codes, procedures.

Plain data, no logic. Codes are real (LOINC, UCUM, ATC, DICOM SOP classes); displays of
clinical concepts are in French where a clinician would read them, and the official English
LOINC display where a system would.
"""

from __future__ import annotations

from typing import NamedTuple

FAMILY_NAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
    "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER",
    "MOREL", "GIRARD", "ANDRE", "LEFEVRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANCOIS", "MARTINEZ",
    "LEGRAND", "GARNIER", "FAURE", "ROUSSEAU", "BLANC", "GUERIN", "MULLER", "HENRY", "ROUSSEL", "NICOLAS",
    "PERRIN", "MORIN", "MATHIEU", "CLEMENT", "GAUTHIER", "DUMONT", "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN",
    "BENALI", "NGUYEN", "DIALLO", "HADDAD", "TRAORE", "COHEN", "DA SILVA", "KONATE", "BOUCHER", "LECLERC",
)
MALE_GIVEN = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Nicolas", "Julien", "Thomas", "Lucas", "Hugo",
    "Louis", "Gabriel", "Arthur", "Paul", "Antoine", "Mohamed", "Karim", "Yanis", "Mathis", "Bernard",
    "Jacques", "Christophe", "Olivier", "Sébastien", "François", "Léo", "Raphaël", "Noé", "Adam", "Théo",
)
FEMALE_GIVEN = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Camille", "Léa", "Manon", "Chloé",
    "Emma", "Jade", "Louise", "Alice", "Lina", "Inès", "Sarah", "Fatima", "Aïcha", "Julie",
    "Sophie", "Hélène", "Monique", "Nicole", "Anne", "Céline", "Zoé", "Rose", "Anna", "Mila",
)
STREETS = (
    "rue de Rivoli", "boulevard Saint-Michel", "avenue de la République", "rue Oberkampf", "rue de Vaugirard",
    "boulevard Voltaire", "rue de la Roquette", "avenue Jean Jaurès", "rue du Faubourg Saint-Antoine",
    "rue Lecourbe", "avenue d'Italie", "rue de Belleville", "rue des Pyrénées", "boulevard de Clichy",
)
# (city, postal code): Paris arrondissements and the inner suburbs AP-HP serves.
CITIES = (
    ("Paris", "75005"), ("Paris", "75011"), ("Paris", "75012"), ("Paris", "75013"), ("Paris", "75014"),
    ("Paris", "75015"), ("Paris", "75018"), ("Paris", "75019"), ("Paris", "75020"), ("Créteil", "94000"),
    ("Saint-Denis", "93200"), ("Montreuil", "93100"), ("Boulogne-Billancourt", "92100"), ("Bobigny", "93000"),
)

#: Hospital services (wards). Encounters use these names as serviceProvider display; staff
#: schedules number them ("cardiologie 2") once a big hospital has more wards than names.
WARDS = (
    "urgences", "cardiologie", "pneumologie", "neurologie", "gastro-entérologie", "néphrologie",
    "médecine interne", "gériatrie", "pédiatrie", "maternité", "chirurgie digestive", "orthopédie",
    "réanimation", "oncologie", "hématologie", "maladies infectieuses", "endocrinologie", "rhumatologie",
)
STAFF_ROLES = ("médecin", "interne", "infirmier", "aide-soignant", "cadre de santé")


class Vital(NamedTuple):
    code: str
    display: str
    unit: str
    low: float  # plausible range of generated values
    high: float
    decimals: int


HEART_RATE = Vital("8867-4", "Heart rate", "/min", 52, 118, 0)
TEMPERATURE = Vital("8310-5", "Body temperature", "Cel", 36.0, 39.4, 1)
SPO2 = Vital("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 89, 100, 0)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Vital("8480-6", "Systolic blood pressure", "mm[Hg]", 98, 172, 0)
DIASTOLIC = Vital("8462-4", "Diastolic blood pressure", "mm[Hg]", 55, 102, 0)


class LabTest(NamedTuple):
    code: str
    display: str
    unit: str  # UCUM
    low: float  # reference range
    high: float
    decimals: int


class Panel(NamedTuple):
    code: str
    display: str
    tests: tuple[LabTest, ...]
    probability: float  # of being ordered during an encounter


PANELS = (
    Panel(
        "58410-2",
        "CBC panel - Blood by Automated count",
        (
            LabTest("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.0, 1),
            LabTest("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.0, 10.0, 1),
            LabTest("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 0),
        ),
        0.8,
    ),
    Panel(
        "51990-0",
        "Basic metabolic panel - Blood",
        (
            LabTest("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136, 145, 0),
            LabTest("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.0, 1),
            LabTest("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.2, 2),
            LabTest("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 100, 0),
        ),
        0.6,
    ),
)


class Medication(NamedTuple):
    atc: str
    display: str
    dosage: str


MEDICATIONS = (
    Medication("N02BE01", "Paracétamol 1 g comprimé", "1 comprimé toutes les 6 heures si douleur, max 4 g/24 h"),
    Medication("B01AB05", "Énoxaparine 4000 UI/0,4 mL injectable", "1 injection sous-cutanée par jour le soir"),
    Medication("C07AB07", "Bisoprolol 5 mg comprimé", "1 comprimé le matin"),
    Medication("A02BC01", "Oméprazole 20 mg gélule", "1 gélule le matin à jeun"),
    Medication("J01CR02", "Amoxicilline/acide clavulanique 1 g/125 mg", "1 sachet matin, midi et soir pendant 7 jours"),
    Medication("C03CA01", "Furosémide 40 mg comprimé", "1 comprimé le matin"),
    Medication("N02AX02", "Tramadol 50 mg gélule", "1 gélule toutes les 8 heures si douleur intense"),
    Medication("A10BA02", "Metformine 850 mg comprimé", "1 comprimé matin et soir au cours des repas"),
    Medication("C09AA05", "Ramipril 5 mg comprimé", "1 comprimé par jour"),
    Medication("B01AC06", "Acide acétylsalicylique 75 mg", "1 sachet par jour au déjeuner"),
)

# (SNOMED CT code, French display, AllergyIntolerance.category)
ALLERGENS = (
    ("764146007", "Pénicilline", "medication"),
    ("387207008", "Ibuprofène", "medication"),
    ("387458008", "Aspirine", "medication"),
    ("111088007", "Latex", "environment"),
    ("256259004", "Pollen", "environment"),
    ("762952008", "Arachide", "food"),
    ("102263004", "Oeufs", "food"),
    ("227493005", "Noix de cajou", "food"),
)

SURGERIES = (
    "Cholécystectomie sous coelioscopie", "Appendicectomie", "Prothèse totale de hanche", "Prothèse totale de genou",
    "Cure de hernie inguinale", "Ostéosynthèse du col du fémur", "Colectomie droite", "Arthroscopie du genou",
    "Pontage coronarien", "Thyroïdectomie totale",
)

# DICOM modality -> (SOP Class UID, [(study description, [series descriptions])], unit label)
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "CR": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
}
STUDY_TYPES = {
    "CT": (
        ("Scanner thoracique", ("Thorax sans injection", "Thorax avec injection", "Reconstructions MIP")),
        ("Scanner cérébral", ("Encéphale sans injection", "Encéphale avec injection", "Reconstructions")),
        ("Scanner abdomino-pelvien", ("Abdomen portal", "Abdomen tardif", "Reconstructions coronales")),
    ),
    "MR": (
        ("IRM cérébrale", ("T1", "T2 FLAIR", "Diffusion")),
        ("IRM du genou", ("DP FS sagittal", "T1 coronal", "DP FS axial")),
        ("IRM du rachis lombaire", ("T2 sagittal", "T1 sagittal", "T2 axial")),
    ),
    "CR": (
        ("Radiographie du thorax", ("Face", "Profil", "Face couché")),
        ("Radiographie du bassin", ("Face", "Hanche droite", "Hanche gauche")),
    ),
    "US": (
        ("Échographie abdominale", ("Foie et voies biliaires", "Reins", "Pancréas")),
        ("Échographie doppler des membres inférieurs", ("Membre inférieur droit", "Membre inférieur gauche")),
    ),
}
# Relative frequency of each modality among studies (radiographs are the commonest).
MODALITY_WEIGHTS = {"CR": 4, "CT": 3, "US": 2, "MR": 2}
