"""Applications for recognition (申请认定): a verified learner asks the bank to recognise an outcome
of their own, with evidence files; sub-centre and city centre review it in two stages."""
