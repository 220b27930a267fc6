-- row_count_at_least must fail a two-row table against 3 and pass it against 2
with

cases as (

    select * from (values (1), (2)) as cases (value)

),

too_small as (

    {{ test_row_count_at_least(model='cases', min_rows=3) }}

),

large_enough as (

    {{ test_row_count_at_least(model='cases', min_rows=2) }}

)

select 'row_count_at_least misjudged a two-row table' as problem
where (select count(*) from too_small) != 1
    or (select count(*) from large_enough) != 0
