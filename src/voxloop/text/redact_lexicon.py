"""Word lists for the person-name rules of :mod:`voxloop.text.redact` (data only).

- ``GIVEN_NAMES``: common given names in France, the UK, Ireland and North America (the
  usual first names of the customers and agents who write or are written about);
- ``SURNAMES``: the most common family names in France, the UK, Ireland and the US: a
  capitalised word before one of them makes a name ("Yusuf Peterson"); alone they are not
  enough ("Martin", "White", "Wood" are words too);
- ``AMBIGUOUS_GIVEN_NAMES``: given names that are also places, months or brands
  (``Florence``, ``May``, ``Alexa``): a name only with a cue or a surname after;
- ``WORDLIKE_GIVEN_NAMES``: given names that are also ordinary words (``Will``, ``Grace``,
  ``Mark``): alone, a name only inside a sentence;
- ``NOT_NAMES``: capitalised words that follow a cue ("Bonjour Madame", "Thanks Orange",
  "Dear Customer Service") or start a sentence but are not names;
- ``TITLES``: what stands before a name and is not part of it.

All lower case; look words up with ``word.casefold()``.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.casefold().split())


GIVEN_NAMES = _words(
    """
    jean marie pierre michel andré andre philippe alain bernard jacques daniel christian nicolas
    patrick claude christophe stéphane stephane frédéric frederic laurent julien sébastien
    sebastien olivier david thierry françois francois éric eric pascal dominique gérard gerard
    thomas alexandre guillaume vincent antoine maxime romain kévin kevin mathieu matthieu benoît
    benoit jérôme jerome arnaud fabien cédric cedric damien yannick hugo lucas léo leo louis
    gabriel raphaël raphael arthur jules adam nathan théo theo enzo mathis noah ethan baptiste
    clément clement quentin florian anthony jonathan jérémy jeremy mickaël mickael michaël
    franck didier gilles serge yves rené rene robert roger henri paul marc luc xavier emmanuel
    lionel hervé herve bruno fabrice ludovic sylvain grégory gregory loïc loic aurélien aurelien
    adrien valentin benjamin simon samuel victor axel mohamed mohammed mohamed ahmed karim mehdi
    sofiane yassine rachid samir nabil farid bilal ibrahim omar youssef moussa mamadou amine
    hamid kamel lucien marcel georges gaston raymond maurice fernand joël joel jean-pierre
    jean-claude jean-luc jean-marc jean-paul jean-michel jean-françois jean-louis jean-jacques
    jean-baptiste marie-claude marie-christine marie-france marie-thérèse anne-marie
    anne-sophie marie-laure marie-hélène
    nathalie isabelle sylvie catherine françoise francoise martine christine monique valérie
    valerie sandrine nicole sophie céline celine stéphanie stephanie véronique veronique
    patricia chantal anne julie aurélie aurelie émilie emilie camille laura sarah manon léa lea
    chloé chloe emma inès ines jade louise alice lina mila zoé zoe juliette lucie clara anaïs
    anais pauline mathilde audrey caroline virginie élodie elodie laetitia lætitia karine agnès
    agnes brigitte jacqueline danielle hélène helene claire corinne delphine nadia fatima
    samira yasmine leïla leila aïcha aicha amina sonia sabrina vanessa jessica mélanie melanie
    marion océane oceane justine élise elise éva eva nina agathe capucine charline coralie
    morgane gaëlle gaelle magali muriel odile josiane ginette colette simone jeanne madeleine
    suzanne yvette annie béatrice beatrice évelyne evelyne laurence pascale élisabeth
    elisabeth nadine sandra noémie noemie lola maëlle maelle romane margot cécile cecile
    florence estelle myriam sylviane marine lucille aurore perrine solène solene gwenaëlle
    gwenaelle ophélie ophelie adèle adele léna lena héloïse heloise clémence clemence
    james john robert michael william richard joseph charles christopher matthew mark donald
    steven andrew joshua kenneth brian george timothy ronald edward jason jeffrey ryan jacob
    gary nicholas stephen larry justin scott brandon gregory alexander frank raymond jack
    dennis jerry tyler aaron jose henry douglas zachary peter kyle jeremy walter keith terry
    sean gerald carl harold dylan lawrence jesse bryan billy bruce joe logan alan juan albert
    willie elijah wayne randy mason roy ralph bobby russell bradley philip eugene harry oliver
    jake charlie callum liam connor luke owen lewis jamie ben sam dan tim mike chris matt steve
    nick rob alex tony andy pete jim dave ian neil stuart graham colin gavin darren craig ross
    gordon malcolm stewart duncan hamish angus rhys gareth declan seamus ciaran niall eoin
    raj arjun ali hassan mohammad muhammad tom harvey alfie freddie archie theo toby reece
    nathaniel marcus dominic sebastian julian adrian trevor clive nigel derek barry kieran
    mary jennifer linda elizabeth barbara susan sarah karen lisa nancy betty margaret ashley
    kimberly emily donna michelle carol amanda dorothy melissa deborah rebecca sharon cynthia
    kathleen amy angela shirley anna brenda pamela helen samantha katherine debra rachel
    carolyn janet maria heather diane julia olivia joyce kelly lauren christina joan evelyn
    judith megan cheryl hannah martha gloria teresa ann sara frances kathryn janice abigail
    judy sophia denise doris marilyn beverly isabella theresa diana natalie brittany kayla
    alexis lori amelia isla ava mia ella lily freya evie lucy katie kate jenny claire clare
    fiona gemma kirsty lindsay leanne stacey nia siobhan aoife niamh priya aisha keisha tracy
    tracey wendy jill gillian sue susan jane joanne joanna elaine lorraine maureen eileen
    bridget sinead orla caitlin megan bethany chelsea jodie kerry nicola rachael hayley zara
    """
)

SURNAMES = _words(
    """
    martin bernard thomas petit robert richard durand dubois moreau laurent simon michel
    lefebvre leroy roux david bertrand morel fournier girard bonnet dupont lambert fontaine
    rousseau vincent muller lefèvre lefevre faure andré mercier blanc guérin guerin boyer
    garnier chevalier françois legrand gauthier garcia perrin robin clément morin nicolas
    henry roussel mathieu gautier masson marchand duval denis dumont lemaire noël noel meyer
    dufour meunier brun blanchard giraud joly rivière riviere lucas brunet gaillard barbier
    arnaud martinez gérard roche renard schmitt roy leroux colin vidal caron picard roger
    fabre aubert lemoine renaud dumas lacroix olivier philippe bourgeois benoît rey leclerc
    payet rolland leclercq guillaume lecomte lopez dupuy guillot hubert berger carpentier
    sanchez dupuis moulin deschamps huet vasseur perez boucher fleury royer klein jacquet
    poirier marty aubry guyot carré carre renault charpentier ménard menard maillard baron
    bertin bailly hervé schneider fernandez collet léger bouvier julien prévost prevost
    millet perrot cousin germain breton besson langlois rémy remy pelletier lévêque perrier
    leblanc barré lebrun marchal weber mallet hamon boulanger jacob monnier michaud
    rodriguez guichard gillet étienne grondin poulain tessier chevallier collin chauvin
    bouchet lemaître lemaitre bénard maréchal humbert reynaud hoarau perret barthélemy
    cordier pichon lejeune gilbert lamy delaunay pasquier carlier laporte diallo traoré
    traore nguyen benali haddad mekki bensaid cissé coulibaly konaté camara sylla touré
    smith johnson williams brown jones miller davis hernandez gonzalez wilson anderson
    taylor moore jackson lee thompson white harris clark ramirez lewis robinson walker
    young allen king wright scott torres hill flores green adams nelson baker hall rivera
    campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards
    collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper
    peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez
    wood james bennett gray grey mendoza ruiz hughes price alvarez castillo sanders patel
    myers long ross foster jimenez powell jenkins perry russell sullivan bell coleman
    butler henderson barnes gonzales fisher vasquez simmons romero patterson alexander
    hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera gibson
    ellis tran medina aguilar stevens murray ford castro marshall owens harrison mcdonald
    macdonald woods washington kennedy wells vargas chen freeman webb tucker guzman burns
    crawford olson simpson porter hunter gordon mendez silva shaw snyder mason dixon munoz
    hunt hicks holmes palmer wagner black robertson boyd stone salazar fox warren mills
    rice schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne
    grant dunn kelley spencer hawkins arnold pierce hansen peters santos hart bradley
    knight elliott cunningham duncan armstrong hudson carroll lane riley andrews ray berry
    perkins hoffman johnston matthews richards willis carpenter lawrence davies clarke
    o'brien o'connor o'neill o'sullivan walsh byrne doyle mccarthy lynch fitzgerald reid
    macleod fraser ali ahmed hussain singh shah khan begum
    """
)

# Given names that are also places, months or brands: a name only with a cue or a surname.
AMBIGUOUS_GIVEN_NAMES = _words(
    """
    may june april august jordan austin victoria florence charlotte virginia georgia paris
    madison lincoln chelsea sydney adelaide lorraine savannah dakota france alexa siri
    mercedes tesla jaguar ford dell eden orange
    """
)

# Given names that are also ordinary words: a name alone only inside a sentence ("then Mark
# said"), not at its start ("Will you call me?", "Grace à vous").
WORDLIKE_GIVEN_NAMES = _words(
    """
    will mark bill grace hope rose joy faith frank guy max rich sue ray penny dawn eve iris
    olive ivy holly amber jade ruby crystal pat art bob jack sandy sunny summer dean lee
    claire marine prudence constance patience blanche violette ambre céleste celeste aimé
    aime désiré desire angel sky river carter mason hunter parker taylor morgan martin rene
    grâce
    """
)

TITLES = _words(
    """
    mr mr. mrs mrs. ms ms. miss mx mx. dr dr. prof prof. sir madam m. mme mme. mlle mlle. mmes
    mm. monsieur madame mademoiselle docteur maître maitre pr pr. lady lord dame
    """
)

# Capitalised words that are not names even right after a cue or at the start of a name.
NOT_NAMES = TITLES | _words(
    """
    i i'm i've i'll i'd je j' tu il elle on nous vous ils elles le la les l' un une des du de
    ce cet cette ces mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs the a an
    my your his her our their this that these those it its we you they he she me him us them
    hi hello hey dear bonjour bonsoir salut coucou cher chère chere merci thanks thank regards
    cordialement best cheers sincerely yours all everyone everybody there team équipe equipe
    support service services client clients customer customers care sav help desk helpdesk
    department dept direction manager staff agent agents conseiller conseillère conseillers
    responsable company société societe sir madam madame monsieur mademoiselle messieurs
    mesdames ladies gentlemen folks guys friends amis
    orange sfr free bouygues amazon apple google microsoft samsung huawei xiaomi sony netflix
    fnac darty boulanger cdiscount carrefour auchan leclerc lidl ikea decathlon sncf ratp edf
    engie total totalenergies la poste colissimo chronopost dhl ups fedex ups laposte uber
    deliveroo airbnb booking paypal visa mastercard amex ameli caf pôle emploi bnp société
    générale lcl caisse crédit credit agricole mutuel axa maif macif allianz generali
    siri alexa cortana bixby
    flight flights vol vols train trains bus store stores shop magasin boutique agence branch
    app appli application site website web online en ligne box router routeur forfait plan
    offer offre ticket tickets billet billets card carte bank banque
    iphone ipad android windows livebox freebox bbox wifi internet facebook twitter instagram
    whatsapp linkedin tiktok youtube gmail hotmail outlook yahoo
    lundi mardi mercredi jeudi vendredi samedi dimanche janvier février fevrier mars avril mai
    juin juillet août aout septembre octobre novembre décembre decembre
    monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december
    paris lyon marseille toulouse nice nantes strasbourg montpellier bordeaux lille rennes
    reims grenoble dijon angers nîmes brest tours limoges amiens perpignan metz besançon
    rouen caen orléans orleans mulhouse nancy london manchester birmingham leeds glasgow
    liverpool bristol edinburgh cardiff belfast dublin new york boston chicago toronto
    montréal montreal vancouver quebec québec bruxelles brussels genève geneva lausanne
    zürich zurich luxembourg france belgique belgium suisse switzerland canada england
    ireland scotland wales uk usa europe french english français francais anglais
    ok okay yes no oui non bon très tres trop super nul top vraiment really very good great
    bad excellent parfait perfect impossible incroyable inadmissible honteux scandaleux
    veuillez merci remboursez contactez appelez rappelez envoyez écrivez ecrivez vérifiez
    verifiez regardez arrêtez arretez expliquez répondez repondez faites donnez notez
    sachez voyez dites prévenez prevenez annulez résiliez resiliez livrez réparez reparez
    signed signé signe sent envoyé received reçu call email contact send check stop
    sorry désolé desole hope thanks cheers regards kind warm best sincères sinceres
    bonne bonnes belle excellente have see talk à a hier aujourd'hui demain today yesterday
    tomorrow
    please svp stp urgent important attention note nb ps pj re tr fw fwd objet subject
    commande order facture invoice colis parcel livraison delivery produit product
    remboursement refund retour return compte account contrat contract abonnement offre
    numéro numero number email e-mail mail courriel téléphone telephone phone mobile tel
    adresse address nom name prénom prenom date heure ville city pays country
    """
)
