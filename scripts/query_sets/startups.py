"""Query sets of the startups sample (the tutorial's catalogue, the built-in schema).

- MEANING: descriptions in other words, each with the startup it should find (the tutorial's kind
  of query, written to share few words with the answer, so full-text matching has little to hold
  on to); TITLES is None: every record's name is a title query;
- LONG: paragraph-long descriptions (84-169 words, 94-192 tokens), what a person pastes when
  they describe at length the startup they are looking for: written for this check by reading 30
  records across topics and telling each one's need in a searcher's words (context first, the need
  near the end, details that do not matter), each with the startup(s) it should find;
- REAL: what people type, each with a close answer in the sample: descriptions in other words,
  short topic words, startups' names; TYPO: the same with a slip of the fingers, still finding
  good answers;
- NONSENSE: what has no close answer: random letters, keyboard runs, emoji, numbers and
  punctuation, and text in languages and scripts the model was not trained on; OFF_TOPIC: real
  needs that no startup of the sample serves, whose nearest share no word or meaning with them.

The HELD_OUT_* sets were written after the rule was chosen and never tuned on:
`scripts.calibrate_weak` reports the rule's errors on them apart. Replaced after the first run,
because they fell outside their set's definition (their answers looked at, not the rule's verdict):
the typos "softwar for hospitls", "real estat", "recruting platform", "video gmaes",
"restaraunt reservations", "phto sharing" and "home cleening" (their answers are not good: weak
is right, though four of them share a word with their answers and are called close), and the off-topic "deep sea mining", "orbital debris tracking",
"tractor parts", "violin making" and "volcano monitoring" (their answers share a word with them:
Machinio's mining, BikeSpike's tracking; weak_match calls such queries close, docs/quality.md);
then, once the int8_blocks variant served (its nearest differ a little from int8's), "quantum
computing chips" (a cloud computing startup shares "computing") and "nuclear reactor design"
("design").
"""

from __future__ import annotations

# (query, the startups it should find): paraphrases written for this check, not copied text.
MEANING = [
    ("QR codes for restaurants during COVID", ("SaferCodes",)),
    ("personalized online shopping for fashion and lifestyle", ("StyleSeek",)),
    ("physician referrals inside hospitals", ("Human Practice",)),
    ("add a mobile network connection to any hardware gadget", ("Konekt",)),
    ("business intelligence for schools and teachers", ("learnmetrics",)),
    ("start your own marketplace for trading raw materials", ("Exchangery",)),
    ("browse your friends' pictures from every social network in one place", ("Pictarine",)),
    ("software that lowers energy costs of power plants", ("Root3 Technologies",)),
    ("help employees choose their health insurance benefits", ("Spotlite",)),
    ("book golf tee times and earn rewards", ("Golfmiles",)),
    ("get rewarded for good deeds", ("GoodPays.me",)),
    ("plan trips by saving places and comparing flight prices", ("Tripnary",)),
    ("notifications about discounted airfare", ("NowBoarding ✈️",)),
    ("book a hairdresser who comes to your home", ("Stylisted",)),
    ("rent college course books by the day", ("Packback",)),
    ("sell unwanted store vouchers to other people", ("Raise",)),
    ("behavioural therapy help for kids with developmental disorders", ("Special Learning, Inc.",)),
    ("compare electricity suppliers to cut your power bill", ("Power2Switch (acquired by Choose Energy)",)),
    ("property owners renting out homes without an agent", ("Rentalutions",)),
    ("tip writers with tiny donations for their articles", ("CentUp",)),
    ("discounted supplies for puppies and their owners", ("Doggyloot",)),
    ("video job interviews to screen applicants", ("RIVS",)),
    ("nutrition for people who cannot swallow", ("Real Food Blends",)),
    ("monitor custom metrics of your application", ("StatHat",)),
    ("find a film to watch through friends' recommendations", ("MyZeus",)),
    ("get found on Google without hiring an agency", ("UpCity (formerly DIYSEO)",)),
    ("recycling water from oil wells", ("Digital H2O",)),
    ("reserve a table tonight at a discount", ("TableSAVVY",)),
    ("rent a luxury holiday home", ("Vaystays",)),
    ("buy and sell used sofas near you", ("Furnishly",)),
    ("create interactive stories for kids without programming", ("Demibooks",)),
    ("private social network for nurses and hospitals", ("dxcare",)),
]

TITLES = None  # every record's name

REAL = [q for q, _ in MEANING] + [
    # short topic words and phrases
    "food delivery", "vegan food", "fintech", "payments", "travel", "cheap flights", "real estate", "mortgage", "recruiting",
    "health care", "hospital software", "education", "online courses", "music", "video games", "fashion", "e-commerce",
    "wine", "pets", "dog food", "energy", "solar", "advertising", "marketing automation", "analytics", "big data", "crm",
    "social network", "mobile app", "restaurants", "gift cards", "furniture", "insurance", "biotech", "genome editing",
    "cloud hosting", "seo", "crowdfunding", "news", "consulting", "angel investors", "startups in chicago",
    # names, as people type them
    "NowBoarding", "GrubHub", "Threadless", "Packback", "StatHat", "Doggyloot", "Winestyr", "Raise", "dxcare", "Exchangery",
    "safercodes", "human practice", "style seek",
]

NONSENSE = [
    # random letters and keyboard runs
    "qwxzv", "xkqjz", "zzgrvbt", "pflumq", "jjjjjj", "vbnmq", "asdfgh", "qwertyuiop", "lkjhgfdsa", "zxcvbnm", "aaaaaa",
    "xq zv kp", "blorptastic wuggle", "fnord quux", "grbl zzt", "plonk wibble",
    # emoji, numbers, punctuation
    "🍕🚀", "🦄✨🌈", "😀😀😀", "🐙", "12345", "000 000", "3.14159", "???", "!!!", "--- ...", "@#$%",
    # languages and scripts the model does not know
    "外卖送餐", "人工智能", "機械学習のスタートアップ", "오늘 날씨", "อาหารเดลิเวอรี่", "توصيل الطعام", "доставка еды",
    "искусственный интеллект", "खाना पहुंचाना", "Ψηφιακό νόμισμα", "ბიზნესი", "משלוח אוכל",
]

HELD_OUT_REAL = [
    "parking spots", "golf", "beauty salon booking", "angel investing in the midwest", "lost and found", "second-hand furniture",
    "virtual reality", "gene therapy", "email newsletter", "textbooks", "job interviews", "water management", "coupons",
    "interior design", "feeding tube meals", "Tripnary", "Konekt", "Spotlite", "Pictarine", "KitchIn",
]

HELD_OUT_NONSENSE = [
    "zqxvjk", "hjklhjkl", "wvwvwv qq", "mrrp blat", "🌮🎸", "🤖🤖", "42 42 42", "%%%", "宇宙旅行", "ресторан рядом",
    "ข่าววันนี้", "गाड़ी", "Κρυπτογράφηση", "قهوة",
]

TYPO = [
    "vegan fod delivry", "cheap flihgts", "food delivry app", "fashon shopping", "onlin courses", "restaurnts", "mortage",
    "solar enrgy", "wine subscripton", "pet food delivry", "crowdfundng", "gift crads",
]

OFF_TOPIC = [
    "AI for radiology", "pottery kiln firing", "chimney sweeping", "opera singing lessons", "cattle ranching",
    "cryptocurrency mining rigs", "weather forecasting models", "violin repair", "knitting patterns", "tattoo removal",
    "sheep shearing", "church organ tuning",
]

HELD_OUT_TYPO = [
    "insurence quotes", "onlne dating", "mobil payments", "advertizing platform", "grocry delivery", "musik streaming",
    "tutring for students", "event tickts", "hotel bookng", "job serch", "dog walkng", "travle deals",
]

HELD_OUT_OFF_TOPIC = [
    "asteroid mining", "horse saddles", "pipe organ repair", "ice hockey skates", "surfboard wax", "lighthouse maintenance",
    "glacier research", "submarine cables", "fossil excavation", "meteorite hunting", "beekeeping equipment", "bagpipe lessons",
]

# (paragraph, the startups it should find): what a person pastes when they describe at length what
# they are looking for. Written for this check from the records' descriptions, in a searcher's own
# words (context first, the need later, with details that do not matter), sharing few phrases with
# the records; 60-180 words each (`scripts.eval_modes --long` measures QUERY_MAX_TOKENS on them).
LONG = [
    ("We just moved into a rented two-bedroom flat on the third floor and the building has had a couple of break-ins this winter. "
     "My landlord will not let us drill into the walls or sign up for one of those alarm companies with a three-year contract and "
     "a technician visit, and we will probably move again next year anyway. I looked at the big brands online and every one of "
     "them wanted a credit check, a landline or a professional install, and the quotes were over a thousand dollars once you add "
     "the monitoring. We also have a cat, so motion sensors that go off every time she jumps on the sofa are out. What I want is "
     "something I can set up myself in an afternoon, that talks to my phone over wifi, with sensors on the door and maybe a "
     "camera, that I pay for month by month and can unplug and take with me when we leave.",
     ('Scout',)),
    ("A close friend of mine from college was diagnosed with leukemia in March and even with insurance the bills are piling up: "
     "the treatment, the travel to the cancer centre, her husband had to take unpaid leave. She would never ask for help herself, "
     "she is the most stubborn person I know, so her sister and I are organising it quietly. We thought about a bake sale or a "
     "benefit night at the bar where we all used to work, and we may still do that, but it will not cover much. A bunch of us want"
     " to help but we are spread across four states and nobody wants to handle cash or open a bank account. Is there a site where "
     "I can put up a page for her in a few minutes, tell her story, and let family, coworkers and strangers chip in money toward "
     "her medical expenses without it costing anything to set up?",
     ('GiveForward',)),
    ("I got my private pilot licence two years ago, mostly flying out of a small club field near where I grew up, but I travel a "
     "lot for work now and keep losing currency. Every time I land somewhere new I would love to go up for an hour on the weekend,"
     " but checking out with a local flight school means phone calls, paperwork and a checkride each time. I fly mostly a Cessna "
     "172 and sometimes a Piper Archer, nothing fancy, no tailwheel or complex endorsements, and I do not need an instructor "
     "along, just the airplane and maybe a quick look at my logbook. Last month I was in Denver for a week with two free evenings "
     "and gave up after three phone calls. I am looking for a service that lets a certificated pilot find a Cessna or similar near"
     " wherever they are, book it online from the phone, and pay by the hour, the way you would pick up a rental car at the "
     "airport.",
     ('OpenAirplane',)),
    ("My glasses prescription is about three years old and I keep squinting at the screen at work. The nearest optometrist has a "
     "six week wait, and honestly I just want to reorder the same kind of contacts without a full appointment, since I am in my "
     "twenties and have no eye problems. Is there some way to take a vision test at home on my laptop and phone, in a quarter of "
     "an hour or so, and get a real prescription from an eye doctor that online stores will accept?",
     ('Opternative',)),
    ("I have tried every diet you can name: counting points, no carbs, meal shakes, the juice thing my sister swore by. Each time "
     "I lose ten pounds and put back fifteen by the summer. My doctor says my blood pressure is creeping up and that I need to "
     "lose weight for real this time. I am not after another app that only counts calories. I want a program where actual experts "
     "in obesity coach me, with a scale and a tracker that send my numbers in, so that someone looks at the data and tells me what"
     " to change week after week.",
     ('Retrofit',)),
    ("I drive into the city for concerts and Cubs games about twice a month, and every single time I spend twenty minutes circling"
     " the neighbourhood looking for a spot, then end up in some garage charging forty dollars. Last time I missed the first song."
     " My partner thinks I should just take the train, but we live way out past the last stop. I want an app where I can see the "
     "garages and lots around where I am going, compare prices, and pay for a spot ahead of time, so it is waiting for me when I "
     "arrive.",
     ('SpotHero', 'ParkWhiz')),
    ("I hike a lot and go on long bike tours, often three or four days away from any outlet, and my phone always dies by the "
     "second afternoon, just when I need the map. Solar panels are bulky and useless under the trees, and the power banks I carry "
     "are heavy and run out too. I read somewhere about a gadget that stores energy from your own motion, walking or cycling, and "
     "can also be topped up from the wall at home. Who makes a small battery that charges itself while you move and then charges "
     "your phone?",
     ('AMPY',)),
    ("My wife and I run a small online shop selling hand-poured candles and soap, about forty orders a week now, up from ten last "
     "year. The dining table has become a packing station, and I spend my evenings printing labels and standing in line at the "
     "post office. We use Shopify. I am looking for a company that would come and collect our stock, then pack each order and send"
     " it out when it comes in, and push the tracking numbers back to the store so customers get them, without us signing a big "
     "warehouse contract.",
     ('ShipBob',)),
    ("We had our first baby in October, a little boy, and I will admit I barely sleep because I keep getting up to check that he "
     "is breathing. We have a video monitor and one of those mats that senses movement, but it gives false alarms whenever he "
     "rolls to the edge of the crib, and a camera does not really tell you anything. My mother-in-law keeps sending me articles "
     "about sudden infant death. What I would like is something he wears on his foot that measures his heart rate and oxygen and "
     "alerts my phone right away if something is wrong.",
     ('PulseSocks',)),
    ("My dad retired last year and has basically taken up bass fishing full time. He goes out on the lake most mornings, and his "
     "garage is full of tackle boxes. His birthday is coming up and I never know what to buy, because he has every rod and reel "
     "already and I cannot tell one lure from another. Last Christmas I got him a fancy multi-tool and I am fairly sure it is "
     "still in the box. He also ties some of his own flies in the winter, reads every fishing magazine, and complains that the "
     "shop in town only stocks the same three brands. I was thinking of a subscription where every month a box arrives with new "
     "baits, hooks and gear he has not tried yet, picked by people who actually know angling, so he can discover new stuff. Does "
     "something like that exist?",
     ('Mystery Tackle Box',)),
    ("I manage purchasing for a mid-sized metal fabrication shop in Ohio. We are expanding and need a second CNC lathe and "
     "probably a press brake, but new ones are out of our budget this year. The lead times on new machines are also nine months or"
     " more, and the bank will lend against good used equipment at a reasonable rate. We have bought used before through a local "
     "broker who retired, so I am on my own now. Right now I spend hours on dealer websites, auction houses and classified ads, "
     "each with its own search and half of them out of date. I want a single site that gathers the listings of second-hand "
     "industrial equipment from all those sellers so I can search everything at once by make, model and price.",
     ('Machinio',)),
    ("Someone cut the lock on my road bike outside the library last spring, and it was never found; the police basically shrugged."
     " I have saved up for a new one and I commute on it every day, fifteen miles each way, so I am a bit paranoid now. I am "
     "looking for a small device that mounts on the frame, knows where the bike is over GPS and can show it on my phone, tells me "
     "when someone starts messing with it, and if I crash on a country road it sends an alert to my wife.",
     ('BikeSpike',)),
    ("My younger sister has epilepsy. She was diagnosed at fourteen and is now at university, living away from home for the first "
     "time. She has had two seizures this year, both at night, and nobody knows what triggers them; the medication change in the "
     "summer did not obviously help. Her neurologist wants more readings of her brain activity between appointments, but the "
     "overnight hospital stays are exhausting for her and expensive. We heard it might be possible to wear sensors at home paired "
     "wirelessly with a phone so the recordings go straight to her doctor while she lives her normal life. Which company does a "
     "mobile EEG for remote monitoring of people with seizures?",
     ('Wave Technology Group',)),
    ("I work in guest services at a large convention centre and the amount of stuff people leave behind is incredible: phones, "
     "laptops, jackets, an actual trombone once. Right now it all goes into plastic bins with a paper logbook, and when someone "
     "calls asking about a black umbrella we spend ages digging through boxes, and most things are never returned. After ninety "
     "days we are supposed to donate or destroy things, but nobody keeps track of which ones, and we have had complaints on social"
     " media from visitors who were sure we had their bag. We get maybe sixty items during a big trade show. My manager asked me "
     "to find software that lets us log each item when it is handed in, lets owners search and claim their belongings online, and "
     "tracks what gets returned or donated.",
     ('crowdfynd',)),
    ("I am a sophomore studying biology, and between lab reports, readings and lecture slides I print a ridiculous amount. The "
     "library charges ten cents a page, which adds up to real money over a semester when you are living on instant noodles. I "
     "tried reading everything on my laptop, but I cannot focus on a screen for eighty pages and I like writing notes in the "
     "margins. The department printers are for staff only, and my roommate has an inkjet that jams every other page. A friend at "
     "another school told me her campus has printers where you do not pay at all, because companies put a small advertisement on "
     "the pages or on a cover sheet. Who runs that kind of printing for colleges, and how would I get it here?",
     ('Freenters',)),
    ("Our office moved to a new business park last month and there is no cafeteria and no restaurant within walking distance. A "
     "few food trucks come by some days, a taco one and a great Korean barbecue one, but they seem to rotate and we never know who"
     " is parked out front until someone walks down and looks. It is a long walk in the rain to find out the taco truck went to "
     "the stadium instead. Some of the trucks post on Twitter, some on Instagram, some not at all, and I am not going to follow "
     "forty accounts. There is a group chat where people post sightings, which is chaos. Is there an app that shows where the food"
     " trucks are right now on a map, with their menus and their schedules for the week?",
     ('TruckSpotting',)),
    ("I do the grocery shopping for the family every Sunday, and by Thursday I open the fridge, stare at it, and order pizza "
     "anyway, while the spinach and the chicken I bought go bad. My husband works late, my daughter has swim practice three nights"
     " a week, and my son has suddenly decided he is vegetarian, which does not make it easier. I honestly do not need another "
     "shopping list app, we already have two that nobody uses. I have tried meal planning notebooks and spreadsheets, and I never "
     "keep them up. It would be great if my phone could read my shopping receipts, or my supermarket card, and keep a list of what"
     " food is actually in the house, then suggest dinner recipes that use what I already have before it spoils.",
     ('KitchIn',)),
    ("I work in the claims department of a regional auto insurer. Our customers hate waiting three days for an adjuster to come "
     "out and look at a dented bumper, and our adjusters spend half their day driving between appointments. Management wants to "
     "let drivers handle minor accidents themselves: open an app with our own branding, take pictures of the damage to their car, "
     "send them in, and get an estimate and a settlement the same day. It should work for people who are not tech savvy, walk them"
     " through which angles to shoot, and plug into our claims system so the desk adjusters can review the photos and approve "
     "payment from the office. We are a mid-sized company, about two hundred thousand policies, mostly in the Midwest. Which "
     "vendors provide that kind of self-service claims app to insurance companies?",
     ('Snapsheet',)),
    ("We finally bought our first house and the living room is empty except for a beanbag. I have spent weekends in furniture "
     "showrooms: the cheap couches feel flimsy and the nice ones cost as much as a used car, and the delivery takes months anyway."
     " I am quite particular: I want to choose the fabric, the leg style, how deep the seat is and the length so it fits the wall "
     "under the window. Is there an online brand that makes well-built couches to order, customised like that, at a reasonable "
     "price?",
     ('Interior Define',)),
    ("I own a small two-storey building downtown. The ground floor is my architecture studio, and upstairs there is a large room "
     "with eight desks and a meeting room that sits empty most of the week since we downsized. Freelancers and a couple of small "
     "teams have asked whether they could use it now and then. Right now I handle it with a shared calendar and a notebook, people"
     " pay me by cheque or forget to, and I never know who has a key. A coworking chain offered to take the whole floor over but "
     "they want a ten-year lease and most of the income. I do not want to become a full-time property manager; I need something "
     "online that lets me offer the desks and rooms by the day or month, handles bookings and invoices, and keeps the tenants "
     "informed.",
     ('Desktime', 'Leasabl')),
    ("I run a small molecular biology lab at a state university; we work on fruit flies and some mammalian cell lines. Getting a "
     "single gene change into a line can take us months, and the licensing of the usual CRISPR tools is a headache for a group our"
     " size, not to mention the cost. My postdoc mentioned a company with a different protein-based method for changing DNA that "
     "is supposed to be quicker and cheaper. I would like to find biotech firms offering faster, low-cost ways to edit genomes.",
     ('ArborVita Associates',)),
    ("I manage money for a small family office, mostly equities and bonds. Lately a couple of our clients keep asking about "
     "bitcoin, and I am not comfortable pointing them at a consumer exchange app with no oversight. If we ever take positions, it "
     "has to go through a properly licensed firm, with the kind of trading tools, custody and compliance we would expect from any "
     "other broker. Are there regulated broker dealers for digital currency aimed at institutional investors and traders rather "
     "than hobbyists?",
     ('Red Leaf Capital',)),
    ("I am the category manager for wine at a regional grocery chain. Our aisle has eight hundred bottles, and shoppers stand "
     "there looking lost, then grab whatever has a kangaroo on the label or is on sale. We cannot afford a trained wine steward in"
     " every store. I am looking for a vendor that puts a screen in the aisle: the customer answers a few questions about what "
     "they like or what they are cooking, and it recommends bottles we actually stock, and lets suppliers run promotions on it.",
     ('savvo digital sommelier solutions',)),
    ("Every quarter our analytics team spends about two weeks turning spreadsheets and dashboards into written summaries for the "
     "executives and the branch managers: this region grew, that product dropped, here is why. It is mind-numbing work, and the "
     "managers mostly skip the charts and only read the words. We tried templates with fill-in-the-blank sentences, but they read "
     "like a robot and break every time the data changes shape, and hiring more analysts just to write prose is hard to justify. "
     "We are a bank, by the way, so anything we use would have to pass a security review and run on our own data warehouse. I have"
     " been asked to look into artificial intelligence that reads our data directly and writes the report in plain English by "
     "itself, at the scale of thousands of personalised reports, for a large enterprise.",
     ('Narrative Science',)),
    ("My son is in tenth grade and was doing fine until chemistry this year; now he is failing and getting really discouraged. His"
     " teacher is kind but has thirty kids in the class. We tried the homework help at the library, but it is too general. I would"
     " like to find a private tutor, either at our house twice a week or over video, and I want to be able to read reviews from "
     "other parents, see their qualifications and have a background check done before anyone comes to our home.",
     ('WyzAnt',)),
    ("We are moving to Chicago in August for my husband's new job and have to rent an apartment without really knowing the city. "
     "The listing sites all show lovely photos, but a friend got burned last year by a landlord who never fixed the heating and "
     "kept the deposit. Before we sign a lease I would really like to read honest reviews of specific buildings and property "
     "managers from people who have lived there, sort of how you would check out a restaurant before going.",
     ('Landlord Advisor',)),
    ("My brother is getting married in Lisbon in the spring, but the exact date depends on when the venue confirms, probably in a "
     "couple of weeks. I have found a flight at a good price right now and I am sure it will go up, but I cannot book a "
     "non-refundable ticket before I know the date, and the flexible fares cost twice as much. Is there a service where you pay a "
     "small fee to lock in a fare and keep it on hold for a few days or weeks while you finalise your travel plans?",
     ('Options Away',)),
    ("I am the operations director at a group of rural hospitals and clinics in the upper Midwest. We have a huge shortage of "
     "psychiatrists and therapists: patients wait months, and the emergency department ends up holding people in crisis for days. "
     "Our primary care doctors end up prescribing antidepressants without anyone to follow up, and readmissions are a real problem"
     " for our numbers with the state. We tried a telepsychiatry contract with one doctor two years ago, but it was one person, "
     "unreliable, and not connected to our records or our nurses. We cannot recruit anyone full-time out here. We want a partner "
     "that provides a team of mental health professionals to our patients over secure video, integrated into our care, so that we "
     "lower costs and outcomes improve.",
     ('Regroup Therapy',)),
    ("I run a bar near the stadium and at least ten times a night a customer asks if we can charge their phone. We have a couple "
     "of outlets behind the counter and the staff end up babysitting a pile of phones and chargers, and last month one went "
     "missing and it turned into a whole thing. I would like to install a kiosk where guests lock their phone in a little "
     "compartment while it charges, pay with a card, and open it again themselves when they leave.",
     ('SafeCharge',)),
    ("I am the head athletic trainer at a large high school with more than twenty teams. When a kid gets a concussion in football "
     "in the fall, that information somehow never reaches the basketball coach in the winter, and the nurse's office keeps its own"
     " paper files anyway. Last year we had a wrestler return after a shoulder injury that nobody on his new team knew about, and "
     "the parents were furious, rightly. Our district also wants better documentation because of the liability, and the insurance "
     "carrier keeps asking for it. Allergies, asthma inhalers and old injuries all live in different binders. We need one system "
     "that keeps a complete health record for every student who plays sports, follows them from season to season, and lets "
     "trainers, coaches and parents see what they need.",
     ('Team Interval',)),
]
