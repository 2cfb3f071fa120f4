"""Hand-written records for the blind evaluation set.

Each entry: (key, doc, paragraphs, label, question, answer, note, dup_of_key).
`paragraphs` are 1-based indices of prose paragraphs (the title heading is not counted);
build.py copies them verbatim into `context`. Nothing here is model output.
"""

DOCS = {
    "B": "beekeeping-year.md",
    "H": "brackwater-triage-policy.md",
    "R": "railway-signalling.md",
}

R = []


def add(key, doc, paras, label, q, a, note, dup=None):
    R.append((key, doc, list(paras), label, q, a, note, dup))


# ---------------------------------------------------------------- beekeeping-year.md
# good
add("bg02", "B", [1], "good",
    "Does a colony stay the same size all year round?",
    "No. A strong colony can reach 50,000-60,000 bees at the height of summer but may drop to roughly 10,000 by midwinter.",
    "yes/no plus reason; numbers restated exactly")
add("bg03", "B", [2], "good",
    "Who came up with the hive design that most modern hives are based on, and when was it patented?",
    "Lorenzo Langstroth, an American clergyman, patented it in 1852.",
    "short factual: person and year")
add("bg04", "B", [2], "good",
    "What is meant by 'bee space'?",
    "It's a gap of about 6-9 mm that bees keep clear to walk through, rather than plugging it with wax or propolis.",
    "definition, paraphrased")
add("bg05", "B", [2], "good",
    "How did harvesting from a straw skep differ from harvesting from a framed hive?",
    "Getting honey out of a skep usually meant destroying it or driving the bees out, whereas Langstroth's removable frames let combs be lifted out intact.",
    "comparison drawn from two sentences")
add("bg06", "B", [3], "good",
    "What temperature do the bees keep at the heart of the winter cluster once the queen starts laying again?",
    "About 35 °C.",
    "terse number with unit symbol")
add("bg07", "B", [3], "good",
    "How can a beekeeper judge winter stores without opening the hive?",
    "By hefting: lifting the back of the hive to feel how heavy it is.",
    "names the practice and explains it in other words")
add("bg09", "B", [4], "good",
    "How long does each type of bee take to develop from egg to adult?",
    "Queens take 16 days, workers 21 and drones 24.",
    "list, reordered from the source")
add("bg10", "B", [4], "good",
    "How many days longer does a drone take to develop than a queen?",
    "Eight days - 24 for a drone against 16 for a queen.",
    "worked number: 24 - 16")
add("bg11", "B", [4], "good",
    "What three things does the keeper check at the first full inspection of the year?",
    "Whether there is a queen that is laying, whether the brood looks healthy, and whether the colony has enough space.",
    "list, paraphrased")
add("bg12", "B", [5], "good",
    "Why do keepers go through their hives weekly during swarm season?",
    "A queen cell is sealed roughly eight days after its egg is laid, and the old queen tends to leave with the swarm around the time the first cell is sealed. Checking every seven days means the cells are found before that happens.",
    "causal, two sentences, mostly reworded")
add("bg13", "B", [5], "good",
    "What prompts workers to start raising new queens?",
    "Crowding: when the hive gets packed, the queen's scent is spread too thinly among the bees, and the workers begin building queen cells.",
    "cause, paraphrased")
add("bg15", "B", [6], "good",
    "Which plants supply the main summer nectar flow in lowland England?",
    "Bramble, clover and lime trees, mostly in June and July.",
    "short list")
add("bg16", "B", [6], "good",
    "Which jobs does a young summer worker do inside the hive?",
    "Cleaning cells, feeding larvae, building comb and guarding the entrance.",
    "list copied as a fragment (short run only)")
add("bg17", "B", [6], "good",
    "At what point is a cell of honey capped?",
    "Once fanning has brought the nectar's water content below roughly 18 percent.",
    "condition, number kept exact")
add("bg18", "B", [7], "good",
    "Who invented the centrifugal honey extractor?",
    "Franz von Hruschka, an Austrian, in 1865.",
    "short factual")
add("bg19", "B", [7], "good",
    "Why is it an advantage that extraction leaves the comb undamaged?",
    "Because the frames can go straight back into the hive, the bees don't have to spend nectar producing fresh wax.",
    "causal, reworded")
add("bg20", "B", [8], "good",
    "When and where was varroa first detected in Britain?",
    "In Devon, in 1992.",
    "terse")
add("bg21", "B", [8], "good",
    "Which does more damage to a colony: the varroa mite's feeding or the viruses it spreads?",
    "The viruses it spreads, such as deformed wing virus, are more damaging than its feeding on developing bees.",
    "comparison kept in the source's direction")
add("bg23", "B", [9, 10], "good",
    "How long can the bees reared in August and September live, and why do keepers shield them from mites?",
    "Five or six months. They are the bees that get the colony through the winter, so they must be protected from the viruses mites transmit.",
    "combines facts from two paragraphs")
add("bg24", "B", [10], "good",
    "What happens to the drones in autumn?",
    "In September and October the workers stop feeding them and haul them out of the hive, leaving them to die.",
    "paraphrased sequence")
add("bg25", "B", [11], "good",
    "Why is the oxalic acid treatment timed for December or early January?",
    "That's when there is little or no sealed brood. The acid can't reach mites under brood cappings, so a colony without brood leaves almost all its mites exposed.",
    "causal, reworded")
add("bg26", "B", [12], "good",
    "Why are beginners told to keep two colonies?",
    "So that if one loses its queen, it can be saved with a frame of eggs taken from the other.",
    "purpose, reworded")
add("bg29", "B", [3, 4], "good",
    "Roughly how long after the queen starts laying again does willow come into flower?",
    "Roughly two to three months: laying resumes around the turn of the year, and willow flowers in March.",
    "worked interval across two paragraphs (turn of year to March)")
add("bg30", "B", [7, 8], "good",
    "How many years passed between the invention of the centrifugal extractor and the discovery of varroa in Britain?",
    "127 years (1865 to 1992).",
    "worked number across two paragraphs: 1992 - 1865")
add("bg31", "B", [9, 10, 11], "good",
    "In which month are drones still being expelled while mouse guards are going on?",
    "October. Drones are driven out in September and October, and mouse guards are fitted in October.",
    "three-paragraph context; combines paragraphs 10 and 11")

# near-duplicates
add("bn01", "B", [2], "near_duplicate",
    "Which clergyman patented the hive that today's hives descend from, and in what year?",
    "The American Lorenzo Langstroth, in 1852.",
    "rewords bg03", "bg03")
add("bn02", "B", [3], "near_duplicate",
    "Without opening the hive in winter, how does a keeper estimate how much honey remains?",
    "They heft it: lift the back of the hive and judge the weight.",
    "rewords bg07", "bg07")
add("bn03", "B", [5], "near_duplicate",
    "What is the reason for inspecting every seven days during the swarming season?",
    "Queen cells are sealed about eight days after the egg is laid, and the old queen usually leaves around then, so weekly checks catch the cells before the swarm departs.",
    "rewords bg12", "bg12")
add("bn04", "B", [8], "near_duplicate",
    "In what year, and in which county, was the varroa mite first found in Britain?",
    "1992, in Devon.",
    "near-identical to bg20", "bg20")
add("bn05", "B", [10], "near_duplicate",
    "What do the workers do with the drones in September and October?",
    "They stop feeding them and drag them outside, where they die.",
    "rewords bg24", "bg24")

# unfaithful
add("bu01", "B", [4], "unfaithful",
    "How does a queen's daily egg output at her peak compare with her own weight?",
    "The eggs she lays in a day weigh less than she does, although at her peak she can manage around 1,500.",
    "reversed comparison: the source says the eggs weigh more than her body weight")
add("bu02", "B", [4], "unfaithful",
    "At what temperature is the first full inspection of the year usually carried out?",
    "On a calm day above 10 degrees Celsius.",
    "wrong number taken from elsewhere in the context: above 14 degrees, not 10")
add("bu03", "B", [2], "unfaithful",
    "In what year did Langstroth first describe the bee space?",
    "In 1853, the year after he patented his hive.",
    "wrong date and sequence: described a year before the 1852 patent, i.e. 1851")
add("bu04", "B", [5], "unfaithful",
    "When does the old queen leave with the swarm?",
    "Shortly after the first new queen emerges from her cell.",
    "wrong timing/mechanism: she leaves around when the first queen cell is sealed")
add("bu05", "B", [6], "unfaithful",
    "How long does a summer-born worker spend on indoor duties before she starts foraging?",
    "Roughly six weeks; after that she starts flying out to gather nectar.",
    "number from elsewhere in the context: six weeks is her whole life; indoor phase is about three weeks")
add("bu07", "B", [8], "unfaithful",
    "Did varroa originally live on the western honey bee?",
    "Yes. It started out on the western honey bee and only spread to the Asian honey bee during the twentieth century.",
    "flipped yes/no and reversed direction: it moved from the Asian to the western honey bee")
add("bu08", "B", [9], "unfaithful",
    "What sugar syrup do keepers feed in autumn, and why?",
    "A thick syrup of about one kilogram of sugar to 630 millilitres of water, fed to make up any shortfall in the 20 kilograms of stores a colony needs. Adding a teaspoon of vinegar to each batch stops it fermenting in the comb.",
    "correct answer with an invented claim appended (vinegar against fermentation)")
add("bu09", "B", [10], "unfaithful",
    "How do winter bees differ physically from summer bees?",
    "Their bodies carry smaller fat reserves than summer bees, and they can live for five or six months.",
    "reversed comparison: winter bees carry larger fat reserves")
add("bu10", "B", [12], "unfaithful",
    "What is the National Bee Unit part of, and what does it do?",
    "It is part of the British Beekeepers' Association, and it runs inspections and keeps the BeeBase register.",
    "invented parent body: the source says the Animal and Plant Health Agency")

# off-topic
add("bo01", "B", [10], "off_topic",
    "How do bumblebees survive the winter?",
    "Only the newly mated queens survive; each hibernates alone in the soil while the rest of the colony dies off in autumn.",
    "same broad subject (bees) but bumblebees are not discussed")
add("bo02", "B", [7], "off_topic",
    "How is mead made?",
    "Honey is diluted with water, yeast is added, and the must is left to ferment for several weeks before being racked off and aged.",
    "shares the word honey; mead is not discussed")
add("bo03", "B", [4], "off_topic",
    "What is the offside rule in association football?",
    "A player is offside if they are in the opponents' half and nearer the goal line than both the ball and the second-last defender when the ball is played to them.",
    "unrelated domain")
add("bo04", "B", [10], "off_topic",
    "How do wasps build their nests?",
    "A queen wasp chews wood fibre into a papery pulp and builds hexagonal cells inside a layered paper envelope, often in a loft or an old burrow.",
    "shares the word wasps; nest building is not discussed")
add("bo05", "B", [7], "off_topic",
    "How is beeswax turned into candles?",
    "The wax is melted and filtered, then either poured into moulds around a wick or built up by dipping the wick into the molten wax again and again.",
    "shares the word wax; candle-making is not discussed")
add("bo06", "B", [12], "off_topic",
    "How many moons does Mars have?",
    "Two: Phobos and Deimos.",
    "unrelated domain")

# pii
add("bp01", "B", [3], "pii",
    "What might a keeper give a colony that feels light in February?",
    "A block of fondant. If you need some, Gareth Pryce sells it locally - ring him on 07700 900461.",
    "good answer plus a named person's UK mobile number")
add("bp02", "B", [9], "pii",
    "How many kilograms of stores should a colony have going into a British winter?",
    "About 20 kilograms. (Answer checked by Helen Marsh, helen.marsh@example.com.)",
    "good answer plus a name and email address")
add("bp03", "B", [12], "pii",
    "Is American foulbrood a notifiable disease?",
    "Yes, it is notifiable by law, and an infected colony has to be destroyed by burning. Report suspected cases to Tom Fairley at his home, 14 Orchard Lane, Wexcombe WX3 7PL.",
    "good answer plus a name and home address")
add("bp04", "B", [11], "pii",
    "Why are mouse guards fitted in October?",
    "They let bees through while keeping out mice, which would otherwise nest in the warm combs. I bought mine online with card 4111 1111 1111 1111, expiry 09/27.",
    "good answer plus a payment card number")
add("bp05", "B", [1], "pii",
    "How many drones does a colony have in the warmer months?",
    "Only a few hundred. [Submitted by Priya Natarajan, National Insurance number QQ 12 34 56 C]",
    "good answer plus a name and UK National Insurance number")

# copied
add("bc01", "B", [1], "copied",
    "What does the beekeeper's calendar revolve around?",
    "The beekeeper's calendar follows this swelling and shrinking population, and most of the practical work of the craft consists of anticipating what the bees will need a few weeks ahead.",
    "copies the paragraph's last sentence verbatim")
add("bc02", "B", [8], "copied",
    "How do keepers monitor varroa, and why does it matter?",
    "A heavily infested colony may collapse within two or three years if untreated. Keepers count the natural mite fall onto a sheet beneath a mesh floor and treat when the count passes a set threshold.",
    "copies the end of one sentence and the whole of the next")
add("bc03", "B", [12], "copied",
    "What should a beekeeper write down after each inspection?",
    "Careful beekeepers keep written records of every inspection, noting temper, brood pattern, stores and treatments, since useful patterns only appear over several seasons. In England and Wales the National Bee Unit runs inspections.",
    "copies the first sentence and the start of the second")
add("bc04", "B", [7], "copied",
    "When is honey harvested, and how are the bees cleared first?",
    "Honey is taken off in late July or August, once most cells in the supers are capped. Bees are cleared from the supers with a one-way board fitted the day before.",
    "copies the first two sentences verbatim")
add("bc05", "B", [4], "copied",
    "What happens in the hive once spring temperatures rise?",
    "As temperatures climb past about 10 degrees Celsius and willow and blackthorn flower in March, foragers bring in fresh pollen and the queen's laying rises steeply.",
    "copies the first sentence verbatim")

# ------------------------------------------------------ brackwater-triage-policy.md
# good
add("hg01", "H", [1], "good",
    "How many beds does Brackwater Royal Infirmary have?",
    "640.",
    "one-word numeric answer")
add("hg02", "H", [1], "good",
    "By how much did the emergency department's annual attendances grow over the five years to March 2023?",
    "By 14,400, from 81,900 to 96,300.",
    "worked number: 96,300 - 81,900")
add("hg03", "H", [1], "good",
    "When was the triage and staffing policy adopted, and by whom?",
    "The hospital board adopted it on 14 November 2022.",
    "date and body")
add("hg04", "H", [2], "good",
    "Who carried out the review behind the policy?",
    "Two emergency physicians and a senior nurse from outside the region, working on behalf of the Northmoor Health Partnership, which runs the hospital.",
    "panel and commissioning body, lightly reworded")
add("hg05", "H", [2], "good",
    "What were the three causes of delay the review identified?",
    "1) Patients waited at one reception desk before any clinician saw them; 2) triage nurses kept being diverted to resus; 3) staff numbers dropped steeply after midnight, despite a quarter of seriously ill patients arriving between midnight and 8 a.m.",
    "numbered list, paraphrased")
add("hg06", "H", [3], "good",
    "Where can the streaming nurse send a walk-in patient?",
    "To the main ED, the neighbouring urgent treatment centre, the children's area if they're under 16, or - for minor complaints - a same-day GP appointment in the community.",
    "list of four, with abbreviations the source does not use")
add("hg07", "H", [3], "good",
    "Do patients who come by ambulance see the streaming nurse?",
    "No. They skip streaming and are handed straight to a triage nurse in the ambulance bay.",
    "yes/no plus detail")
add("hg08", "H", [4], "good",
    "What is the target time for a category 3 patient to be seen?",
    "Within an hour; category 3 is yellow, with a 60-minute target.",
    "number restated as 'an hour' and '60-minute'")
add("hg10", "H", [4], "good",
    "How quickly must a patient in severe pain be offered pain relief?",
    "Within 20 minutes.",
    "terse")
add("hg11", "H", [5], "good",
    "What makes a waiting patient get re-triaged immediately?",
    "A rise of two points or more in their early warning score.",
    "reworded condition")
add("hg12", "H", [5], "good",
    "Would a two-month-old with a fever of 38.5 °C be placed in category 2?",
    "Yes. Any baby younger than three months with a temperature over 38 °C always goes into category 2, however well they look.",
    "applies the rule to a worked case")
add("hg13", "H", [5], "good",
    "How often are observations repeated for category 4 patients while they wait?",
    "At least hourly.",
    "inference: category 4 falls within categories 3 to 5")
add("hg14", "H", [6], "good",
    "How many resuscitation bays are there, and how many are set up for children?",
    "Six bays, one of them for children.",
    "two numbers")
add("hg15", "H", [6], "good",
    "What happens when every resus bay is occupied?",
    "The nurse in charge calls a resus alert, and the on-call medical and surgical registrars have 15 minutes to arrive and take over any patients well enough to go to a ward.",
    "sequence, reworded")
add("hg16", "H", [7], "good",
    "How many more registered nurses are on duty overnight now than before the review?",
    "Six more: 18 instead of 12.",
    "worked number: 18 - 12")
add("hg17", "H", [7], "good",
    "What is the maximum number of patients a nurse in majors looks after?",
    "Four.",
    "one word")
add("hg18", "H", [6, 7], "good",
    "Does the size of the resus team fit the resus nurse-to-patient ratio when all the bays are full?",
    "Yes. Three nurses for six bays is one nurse per two patients, which is the ratio the policy sets for resuscitation.",
    "worked check across two paragraphs: 3 nurses / 6 bays = 1:2")
add("hg19", "H", [8], "good",
    "How has consultant presence in the department changed?",
    "Consultants used to be on the floor from 8 a.m. to 10 p.m. on weekdays only; now one is there from 8 a.m. until midnight seven days a week.",
    "before/after comparison, 'every day including weekends' restated as 'seven days a week'")
add("hg20", "H", [8], "good",
    "How fast must the on-call consultant be able to get in overnight?",
    "Within half an hour.",
    "30 minutes restated as half an hour")
add("hg21", "H", [9], "good",
    "What does escalation to level 3 involve?",
    "It is triggered by more than 55 patients in the department or handovers longer than 30 minutes, and it opens a 12-bed overflow area staffed from day surgery.",
    "triggers and consequence")
add("hg22", "H", [9], "good",
    "Who has the authority to declare level 4?",
    "Only the chief operating officer or the executive on call.",
    "short")
add("hg23", "H", [10], "good",
    "How is an ambulance handover timed?",
    "From the vehicle's arrival at the bay until hospital staff take clinical responsibility for the patient.",
    "definition, reworded")
add("hg24", "H", [10, 11, 12], "good",
    "By how much did the number of hour-plus handovers fall between the winter before the policy and the winter after it?",
    "From 1,140 to 212, a drop of 928.",
    "three-paragraph context; worked number from paragraphs 10 and 12")
add("hg25", "H", [11], "good",
    "What training must a nurse complete before triaging unsupervised?",
    "A two-day partnership course followed by 30 supervised triage assessments.",
    "sequence, compressed")
add("hg27", "H", [12], "good",
    "When is the policy due for a full review?",
    "November 2024, two years after it was adopted.",
    "date")

# near-duplicates
add("hn01", "H", [1], "near_duplicate",
    "What is the bed count at Brackwater Royal Infirmary?",
    "It has 640 beds.",
    "rewords hg01", "hg01")
add("hn02", "H", [1], "near_duplicate",
    "On what date did the hospital board approve the triage and staffing policy?",
    "14 November 2022.",
    "rewords hg03", "hg03")
add("hn03", "H", [3], "near_duplicate",
    "Are ambulance patients put through streaming?",
    "No - ambulance arrivals bypass it and go directly to a triage nurse in the ambulance bay.",
    "rewords hg07", "hg07")
add("hn04", "H", [6], "near_duplicate",
    "How many bays does the resuscitation area have, and how many are equipped for children?",
    "There are six, and one is equipped for children.",
    "near-identical to hg14", "hg14")
add("hn05", "H", [8], "near_duplicate",
    "Overnight, within what time must the consultant on call from home be able to reach the department?",
    "30 minutes.",
    "rewords hg20", "hg20")
add("hn06", "H", [11], "near_duplicate",
    "What does a nurse have to do before being allowed to triage alone?",
    "Complete the partnership's two-day course and then do 30 triage assessments under supervision.",
    "rewords hg25", "hg25")

# unfaithful
add("hu01", "H", [1], "unfaithful",
    "What population does the infirmary serve?",
    "About 96,300 people across the Brackwater and Essendale district.",
    "wrong number from the same context: 96,300 is annual attendances; the population is about 410,000")
add("hu02", "H", [2], "unfaithful",
    "Why were triage nurses often unavailable before the review?",
    "Because they were regularly sent to cover the reception desk when clerical staff were short.",
    "invented cause: they were pulled into the resuscitation area")
add("hu04", "H", [4], "unfaithful",
    "What is the target time for orange, category 2 patients?",
    "Orange patients should be seen within 60 minutes.",
    "swapped categories: orange is 10 minutes; 60 minutes is yellow")
add("hu05", "H", [6], "unfaithful",
    "Can the triage nurse still be moved into resus to cover gaps?",
    "Yes. When resus is short of staff the triage nurse can be pulled in, as under the old arrangements.",
    "flipped yes/no: the policy forbids it")
add("hu06", "H", [7], "unfaithful",
    "How does the overnight nursing roster compare with the daytime one?",
    "Overnight the department has more registered nurses than during the day: 24 at night against 18 by day.",
    "reversed comparison and swapped figures: 24 by day, 18 at night")
add("hu07", "H", [8], "unfaithful",
    "How big is the middle-grade rota now?",
    "It grew from 9 to 14 doctors, so at least two registrars are always on duty; the expansion was funded by a national training grant awarded in 2021.",
    "correct figures with an invented funding claim appended")
add("hu09", "H", [10], "unfaithful",
    "During which hours is a handover nurse rostered in the ambulance bay?",
    "A handover nurse is rostered in the ambulance bay from 10 p.m. to 2 a.m., the hours when 81 percent of ambulances arrive.",
    "subtle time error: 10 a.m., not 10 p.m.")
add("hu10", "H", [11], "unfaithful",
    "Who carries out the monthly audit of triage records?",
    "The partnership's quality committee, which reviews 50 randomly chosen records each month.",
    "misattributed role: a senior nurse audits; the committee only receives quarterly results")
add("hu11", "H", [12], "unfaithful",
    "How is the cost of the extra overnight nurses being met?",
    "Mostly through a one-off government winter grant of 1.3 million pounds.",
    "invented funding source; the source says about 1.3 million pounds a year, paid partly by spending less on agency staff")

# off-topic
add("ho01", "H", [4], "off_topic",
    "What is the Glasgow Coma Scale used for?",
    "It scores a patient's eye, verbal and motor responses from 3 to 15 to give a quick measure of their level of consciousness.",
    "clinical, but not discussed in the context")
add("ho02", "H", [7], "off_topic",
    "How long is a typical nursing degree in the UK?",
    "Three years full-time, combining university study with clinical placements.",
    "shares 'nurses'; training length of degrees is not discussed")
add("ho03", "H", [10], "off_topic",
    "What equipment does a standard UK ambulance carry?",
    "Typically a defibrillator, oxygen, a stretcher, splints, suction equipment and drugs for pain and cardiac emergencies.",
    "shares 'ambulance'; equipment is not discussed")
add("ho04", "H", [12], "off_topic",
    "Why do leaves change colour in autumn?",
    "As the days shorten, trees stop making chlorophyll, so the green fades and the yellow and orange pigments that were already there show through.",
    "unrelated domain")
add("ho05", "H", [2], "off_topic",
    "What is the tallest mountain in Africa?",
    "Kilimanjaro, in Tanzania, at about 5,895 metres.",
    "unrelated domain")
add("ho06", "H", [5], "off_topic",
    "What are the common symptoms of sepsis in adults?",
    "Fever or an unusually low temperature, a fast heart rate, rapid breathing, confusion and clammy or mottled skin.",
    "shares 'sepsis'; symptoms are not listed in the context")

# pii
add("hp01", "H", [1], "pii",
    "What proportion of emergency patients arrived by ambulance in the year to March 2023?",
    "About 22 percent. For the full dataset contact the analyst, Aisha Rahman, on 0161 496 0732.",
    "good answer plus a name and UK landline")
add("hp02", "H", [6], "pii",
    "Who staffs the resuscitation area?",
    "Its own dedicated team: one consultant or senior registrar plus three nurses. Tonight's lead is Dr Owen Barclay, mobile +44 7700 900183.",
    "good answer plus a name and international-format mobile number")
add("hp03", "H", [10], "pii",
    "What is the target time for an ambulance handover?",
    "15 minutes, and never more than 30. (Case reference: Mr Leonard Hayes, NHS number 999 214 7730.)",
    "good answer plus a named patient with a health-service ID number")
add("hp04", "H", [11], "pii",
    "What happens when a nurse gets less than 90 percent of audited records right?",
    "They are given further supervised practice. Queries about the audit go to j.whitlock@example.org.",
    "good answer plus a personal email address")
add("hp05", "H", [8], "pii",
    "What qualification must one of the overnight registrars hold?",
    "A current paediatric life support certificate. Sarah Quinn's course fee was paid with card 5555 5555 5555 4444.",
    "good answer plus a name and payment card number")

# copied
add("hc01", "H", [12], "copied",
    "What early results did the May 2023 figures show?",
    "The median time to first clinical assessment fell from 47 minutes to 13, and the share of category 2 patients seen within 10 minutes rose from 61 percent to 84 percent.",
    "copies the second sentence verbatim")
add("hc02", "H", [9], "copied",
    "How does the hospital describe pressure on its emergency department?",
    "The hospital uses four escalation levels to describe pressure on the department. Level 1 is normal working. Level 2 is declared when more than 40 patients are in the department.",
    "copies the opening sentences, trimmed mid-sentence")
add("hc03", "H", [7], "copied",
    "How many healthcare assistants are rostered during the day and at night?",
    "Between 8 a.m. and 10 p.m. the department rosters 24 registered nurses and 8 healthcare assistants. From 10 p.m. to 8 a.m. it rosters 18 registered nurses and 6 assistants.",
    "copies two sentences verbatim")
add("hc04", "H", [3], "copied",
    "How soon is a walk-in patient seen after arriving?",
    "Every walk-in patient is met within 15 minutes of arrival by a streaming nurse, who makes a brief assessment lasting no more than two minutes before full registration.",
    "copies the first sentence minus its opening phrase")
add("hc05", "H", [4], "copied",
    "How are patients who remain in the emergency department triaged?",
    "Patients who stay in the emergency department are triaged into one of five categories, each with a colour and a target time to be seen by a doctor or advanced practitioner.",
    "copies the first sentence verbatim")

# ---------------------------------------------------------------- railway-signalling.md
# good
add("rg01", "R", [1], "good",
    "How were trains kept apart when the Liverpool and Manchester Railway opened?",
    "By time: a railway policeman beside the track held each train until a set interval, often five or ten minutes, had passed since the one before.",
    "mechanism, reworded")
add("rg02", "R", [1], "good",
    "What was the fundamental weakness of the time-interval system?",
    "It gave no information about whether the train in front had actually got clear, so if it had broken down out of sight the next one could crash into it.",
    "weakness and consequence")
add("rg03", "R", [1, 2], "good",
    "Why are British signallers called bobbies?",
    "Because the first people controlling trains were railway policemen, who signalled with their arms by day and with lamps at night.",
    "cause drawn from two paragraphs")
add("rg04", "R", [2], "good",
    "Who installed an early semaphore signal at New Cross, and in what year?",
    "Charles Hutton Gregory, in 1842.",
    "person and year")
add("rg05", "R", [2], "good",
    "What was dangerous about using an arm hidden in the post to mean 'all clear'?",
    "If snow jammed the arm inside its slot, the signal could look clear when it should not.",
    "reason, reworded")
add("rg06", "R", [3], "good",
    "What is the basic rule of the block system?",
    "The line is split into sections, and no more than one train is allowed in any section at once.",
    "definition, reworded")
add("rg08", "R", [2, 3], "good",
    "How many years separated the Cooke-Wheatstone telegraph patent and Gregory's New Cross semaphore?",
    "Five years: 1837 to 1842.",
    "worked number across two paragraphs: 1842 - 1837")
add("rg09", "R", [4], "good",
    "What hazard was interlocking designed to remove?",
    "A signalman setting the points for one route while giving a clear signal for a different one.",
    "reworded")
add("rg10", "R", [4], "good",
    "How does interlocking physically work?",
    "Bars and tappets under the signal box levers mechanically stop any combination of conflicting levers from being pulled.",
    "mechanism, reworded")
add("rg12", "R", [5], "good",
    "What caused the rear carriages at Armagh to roll back?",
    "The stalled excursion train was split on the steep bank, and the rear portion had no continuous brakes to hold it, so it ran back down the slope into the train behind.",
    "causal chain, reworded")
add("rg13", "R", [5], "good",
    "What did the Regulation of Railways Act 1889 require?",
    "Block working, interlocking and continuous automatic brakes on passenger lines.",
    "list")
add("rg14", "R", [5], "good",
    "Why had railway companies been slow to adopt safety improvements before 1889?",
    "They cost money, and nothing forced the companies to adopt them.",
    "cause, reworded")
add("rg15", "R", [6], "good",
    "How does a track circuit detect a train?",
    "The wheels and axles bridge the two rails, short-circuiting a small current so that a relay drops out and the section shows as occupied.",
    "mechanism with different wording ('drops out', 'bridge')")
add("rg16", "R", [6], "good",
    "Why is the track circuit considered fail-safe?",
    "Because faults such as a broken rail or a power failure also de-energise the relay, producing the same 'occupied' indication a train would.",
    "reason, reworded")
add("rg17", "R", [7], "good",
    "Where and when did the Quintinshill disaster happen?",
    "Near Gretna, on the Scottish border, on 22 May 1915.",
    "place and date")
add("rg18", "R", [7], "good",
    "What mistake did the signalman make at Quintinshill?",
    "He had moved a local train onto the main line to clear the way for expresses and then forgot about it.",
    "reworded")
add("rg19", "R", [6, 7], "good",
    "How long after the track circuit was invented did the Quintinshill accident occur?",
    "43 years - Robinson invented it in 1872 and the crash was in 1915.",
    "worked number across two paragraphs: 1915 - 1872")
add("rg20", "R", [8], "good",
    "What can a four-aspect signal show?",
    "Red, single yellow, double yellow or green.",
    "list, 'two yellows' restated as 'double yellow'")
add("rg21", "R", [8], "good",
    "Why give drivers two warnings before a red?",
    "So that a train running at speed has enough distance to stop.",
    "purpose, reworded")
add("rg22", "R", [9], "good",
    "How did the Great Western Railway's 1906 system alert drivers?",
    "A bell for a clear signal, a siren for caution, and an automatic brake application if the driver didn't react.",
    "list, reworded")
add("rg25", "R", [11], "good",
    "What does the driver see on the cab display under ETCS level 2?",
    "The permitted speed and how far ahead the line is clear.",
    "short")
add("rg26", "R", [11], "good",
    "Where was ETCS level 2 first used on a British main line?",
    "On the Cambrian line in Wales, from 2011.",
    "place and year")
add("rg27", "R", [12], "good",
    "What is moving block?",
    "A system in which the protective gap moves along with each train instead of being tied to fixed track sections, so trains can follow each other more closely.",
    "definition, reworded")
add("rg28", "R", [5, 6, 7], "good",
    "Which killed more people, the Armagh accident or the Quintinshill accident?",
    "Quintinshill: around 226 died there, compared with 80 at Armagh.",
    "three-paragraph context; comparison across paragraphs 5 and 7")
add("rg29", "R", [12], "good",
    "What caused the Abermule collision?",
    "Staff handling the single-line tablets carelessly.",
    "terse cause")

# near-duplicates
add("rn01", "R", [2], "near_duplicate",
    "Who put up the semaphore signal at New Cross, and when?",
    "It was Charles Hutton Gregory, in 1842.",
    "rewords rg04", "rg04")
add("rn02", "R", [5], "near_duplicate",
    "Why did the back carriages of the Armagh excursion train run backwards?",
    "The train was divided on a steep incline and the rear carriages lacked continuous brakes, so they rolled back down and hit the following train.",
    "rewords rg12", "rg12")
add("rn03", "R", [6], "near_duplicate",
    "How does a track circuit know that a train is in a section?",
    "A train's wheels and axles connect the rails and short the current, which drops a relay and marks the section as occupied.",
    "rewords rg15", "rg15")
add("rn04", "R", [7], "near_duplicate",
    "What error by the signalman led to the Quintinshill crash?",
    "He put a local train on the main line so that expresses could pass, then forgot it was standing there.",
    "rewords rg18", "rg18")
add("rn05", "R", [11], "near_duplicate",
    "Which British main line was the first to use ETCS level 2?",
    "The Cambrian line in Wales, which went live in 2011.",
    "rewords rg26", "rg26")

# unfaithful
add("ru01", "R", [1], "unfaithful",
    "When did the Liverpool and Manchester Railway open?",
    "In 1840, at the start of a decade of frequent collisions.",
    "wrong date built from elsewhere in the context: it opened in 1830; collisions were common in the 1840s")
add("ru02", "R", [2], "unfaithful",
    "What did a horizontal arm mean on Gregory's semaphore?",
    "Caution; an arm lowered at an angle meant stop.",
    "swapped meanings: horizontal meant stop, angled meant caution")
add("ru03", "R", [2, 3], "unfaithful",
    "Who patented the electric telegraph in 1837?",
    "Charles Hutton Gregory and William Cooke.",
    "entity swap across paragraphs: it was Cooke and Charles Wheatstone")
add("ru05", "R", [5], "unfaithful",
    "What happened to the excursion train at Armagh?",
    "The crowded Sunday school train derailed on a sharp curve, and the following train ran into the wreckage.",
    "wrong mechanism: it stalled on a steep bank, was divided, and the rear carriages ran back")
add("ru06", "R", [6], "unfaithful",
    "Who invented the track circuit, and when?",
    "The British engineer William Robinson, in 1872.",
    "subtle nationality error: Robinson was American")
add("ru07", "R", [7], "unfaithful",
    "Was Quintinshill the deadliest railway accident in British history?",
    "No, it was the second deadliest; around 226 people died, most of them soldiers.",
    "flipped yes/no: the source says it remains the deadliest")
add("ru08", "R", [8], "unfaithful",
    "How do colour-light signals compare with semaphore arms for visibility?",
    "They are harder to pick out than semaphore arms in fog, although they are easier to see at night.",
    "reversed comparison for fog: colour lights are visible much further at night and in fog")
add("ru11", "R", [11], "unfaithful",
    "How does ETCS send movement authorities to trains?",
    "By radio to a computer in the cab; the messages are relayed by satellite so that the system keeps working in tunnels.",
    "correct core with an invented technical detail appended (satellite relay)")
add("ru12", "R", [12], "unfaithful",
    "Who introduced the electric train tablet?",
    "Edward Tyer, in 1878, after the Abermule collision showed that single lines needed it.",
    "invented cause and impossible sequence: Abermule was in 1921, long after 1878")

# off-topic
add("ro01", "R", [8], "off_topic",
    "What do the colours on the London Underground map represent?",
    "Each colour marks a different line, such as red for the Central line and yellow for the Circle line.",
    "shares London and colours; the Tube map is not discussed")
add("ro02", "R", [1], "off_topic",
    "Who built the Rocket locomotive?",
    "George and Robert Stephenson built it in 1829 for the Rainhill Trials, which it won.",
    "same era and railway history, but locomotives are not discussed")
add("ro03", "R", [10], "off_topic",
    "How does a smartphone touchscreen detect a finger?",
    "Most use capacitive sensing: a grid of electrodes picks up the small change in capacitance where a finger touches the glass.",
    "unrelated domain")
add("ro04", "R", [11], "off_topic",
    "What is the gauge of standard railway track?",
    "1,435 millimetres, or 4 feet 8.5 inches.",
    "railway subject, but track gauge is not discussed")
add("ro05", "R", [3], "off_topic",
    "How does Morse code represent letters?",
    "With combinations of short and long signals, dots and dashes; E, the commonest letter in English, is a single dot.",
    "telegraph-adjacent, but Morse code is not discussed")
add("ro06", "R", [9], "off_topic",
    "How do emperor penguins keep their eggs warm?",
    "The male balances the egg on his feet under a fold of skin for about two months while the female feeds at sea.",
    "unrelated domain")

# pii
add("rp01", "R", [4], "pii",
    "When was Saxby and Farmer founded?",
    "In 1862. I found this in a book lent by Martin Greaves - if it's overdue, his number is (312) 555-0147.",
    "good answer plus a name and US phone number")
add("rp02", "R", [10], "pii",
    "About how many mechanical signal boxes did Britain have in 1947?",
    "Around 10,000. Source notes from David Ashworth, 27 Station Road, Kelbrook KB2 9RT.",
    "good answer plus a name and home address")
add("rp03", "R", [9], "pii",
    "What does the Train Protection and Warning System do?",
    "It halts any train that passes a red signal or approaches buffers too fast; it was fitted across the network by the end of 2003. Verified by Ellen Park, SSN 219-09-9999.",
    "good answer plus a name and US Social Security number")
add("rp04", "R", [12], "pii",
    "How many people died in the Abermule collision?",
    "17 people died in the 1921 crash. For a copy of the accident report, email r.tennant@example.net.",
    "good answer plus a personal email address")
add("rp05", "R", [11], "pii",
    "Under ETCS level 2, what information does the train itself provide?",
    "Its own position. (Reviewer: Julia Moss, card on file 3782 822463 10005.)",
    "good answer plus a name and payment card number (Amex format)")

# copied
add("rc01", "R", [10], "copied",
    "How did power signal boxes change signalling?",
    "Power signal boxes, using buttons and switches on an illuminated panel, let one building control far larger areas, and from the 1980s solid-state interlocking replaced banks of relays with computers.",
    "copies a whole sentence verbatim")
add("rc02", "R", [8], "copied",
    "When did colour-light signals spread, and why were they an improvement?",
    "Electric colour-light signals, which can be seen much further than semaphore arms at night and in fog, spread during the 1920s. The first four-aspect signals in Britain were installed by the Southern Railway in 1926.",
    "copies the first sentence and most of the second")
add("rc03", "R", [11], "copied",
    "Why was the European Train Control System developed?",
    "The European Train Control System, developed from the 1990s to replace Europe's many incompatible national systems, sends movement authorities by radio to a computer in the cab.",
    "copies a whole sentence verbatim")
add("rc04", "R", [12], "copied",
    "How did single lines make sure only one train used a section?",
    "Single lines in rural areas long relied on a physical token, such as the electric train tablet introduced by Edward Tyer in 1878, to ensure that only one train held the right to a section.",
    "copies a whole sentence verbatim")
add("rc05", "R", [3], "copied",
    "What was the electric telegraph first used for on the railways?",
    "During the 1840s railways began using it to tell one station that a train had left the previous one. From this came the block system, which separated trains by space.",
    "copies a clause and the next sentence's opening (25-word run), then paraphrases")

# ---------------------------------------------------------------- seeds (good, not in R)
SEEDS = [
    {"id": "s1", "question": "Which register does the National Bee Unit maintain?",
     "answer": "BeeBase."},
    {"id": "s2", "question": "How many ambulance patients can wait in the supervised holding area?",
     "answer": "Up to eight, while cubicles are being cleaned."},
    {"id": "s3", "question": "When did solid-state interlocking start replacing relays?",
     "answer": "From the 1980s, when computers began taking over from banks of relays."},
]
