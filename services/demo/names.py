"""Names, companies and other words the demo data is made of."""

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances",
         "John", "Radia", "Tim", "Katherine", "Dennis", "Hedy", "Claude", "Sophie", "Niklaus"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson",
        "Allen", "Backus", "Perlman", "Berners-Lee", "Johnson", "Ritchie", "Lamarr", "Shannon"]
COMPANIES = ["Analytical Engines Ltd", "Difference Works", "Harbor Logistics", "Nordlicht GmbH",
             "Sable & Sons", "Copperleaf Foods", "Lumen Health", "Atlas Freight", "Bright Forge"]
REGIONS = ["EMEA", "NA", "APAC", "LATAM"]
INDUSTRIES = ["manufacturing", "logistics", "retail", "healthcare", "software", "finance"]
SOURCES = ["web", "referral", "event", "outbound", "partner"]
LOST_REASONS = ["price", "timing", "competitor", "no_budget", "no_response"]
REPS = [f"rep-{n}" for n in range(1, 13)]
MANAGERS = ["manager-1", "manager-2"]
AGENTS = [f"agent-{n}" for n in range(1, 7)]
TAGS = ["vip", "newsletter", "trial", "enterprise", "smb", "partner", "churn-risk"]
CHANNELS = ["call", "email", "meeting", "chat", "note", "visit"]
TICKET_SUBJECTS = ["Cannot log in", "Invoice question", "Delivery delayed", "Feature request",
                   "Data export fails", "Password reset", "Wrong amount charged"]
LEAD_TITLES = ["Platform upgrade", "Annual licence", "Pilot project", "Support plan",
               "Team expansion", "Data migration"]
PRODUCTS = [("SKU-1", "Licence seat", 120), ("SKU-2", "Support hours", 90),
            ("SKU-3", "Training day", 800), ("SKU-4", "Hardware kit", 350)]
TASK_TITLES = ["Call back about the renewal", "Send the revised proposal", "Book a demo",
               "Check the open invoice", "Confirm the delivery date", "Prepare the contract"]
